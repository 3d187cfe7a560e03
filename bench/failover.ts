/**
 * Replicas that lose nothing: two Coalesce replicas behind nginx and behind HAProxy on loopback,
 * under steady HTTP and gRPC load, while one replica is stopped with SIGTERM (it drains) or SIGKILL
 * (it vanishes mid-request). Counts the requests and calls that failed, per proxy, config and signal.
 * The proxy configs are the examples in deploy/proxies/, in the variants of `Variant` below. At the
 * same time, long bidirectional streams (stream-clients.ts) write messages continuously: each
 * message is counted as answered, left unanswered by a stream that ended with a gRPC status, or
 * lost (its stream cut without one). "direct" is the same without a proxy: each gRPC client is given
 * both replicas' addresses (half of them the stopped one first) and gRPC's default policy,
 * pick_first, which moves to the next address when the one in use goes; no HTTP load.
 *
 *   node dist/bench/failover.js [--clients 16] [--grpc-clients 8] [--stream-clients 8] [--stream-window 8] [--model test/fixtures/tiny-bert] [--only nginx:defaults:SIGTERM,...] [--out failover]
 *
 * Needs nginx and haproxy on PATH (Debian: apt-get install -y nginx haproxy).
 * Writes bench/results/failover.{json,md}.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { loadProto, PROTO_FILES, serviceDefinition } from '../src/transport/grpc/protos.js';
import { flagValue } from './args.js';
import { freePort, startServer, type ServerProcess } from './server-process.js';
import { referenceVectors, streamLoad, type StreamCounts } from './stream-clients.js';

type Proxy = 'direct' | 'nginx' | 'haproxy';
/**
 * defaults: the example without its "# retry" lines; stock (nginx): also without its
 * "# keepalive" lines, i.e. nginx's own upstream settings (a new connection per request); retry:
 * the whole example, and gRPC clients with deploy/proxies/grpc-service-config.json.
 */
type Variant = 'stock' | 'defaults' | 'retry';
type Signal = 'SIGTERM' | 'SIGKILL';

interface Counts {
  requests: number;
  failed: number;
  /** Failures by reason ("502", "ECONNRESET", "UNAVAILABLE", ...). */
  reasons: Record<string, number>;
}

interface Outcome {
  proxy: Proxy;
  config: Variant;
  signal: Signal;
  /** null: no HTTP load ("direct"). */
  http: Counts | null;
  grpc: Counts;
  streams: StreamCounts;
  /** Milliseconds from the signal to the replica's exit. */
  exitMs: number;
  exitCode: number | null;
}

const CLIENTS = Number(flagValue('clients', '16'));
const GRPC_CLIENTS = Number(flagValue('grpc-clients', '8'));
const STREAM_CLIENTS = Number(flagValue('stream-clients', '8'));
const STREAM_WINDOW = Number(flagValue('stream-window', '8'));
const STREAM_STOP_TIMEOUT_MS = 30_000;
const GRPC_DEADLINE_MS = 30_000;
const MODEL = flagValue('model', 'test/fixtures/tiny-bert');
const BODY = JSON.stringify({ inputs: ['steady traffic through a proxy', 'a second input'] });
const ONLY = flagValue('only', null)?.split(',') ?? null;
const OUT = flagValue('out', 'failover');
const AFTER_EXIT_MS = 2000;
const BEFORE_SIGNAL_MS = 2000;

interface Ports {
  proxy: number;
  grpcProxy: number;
  a: number;
  b: number;
  grpcA: number;
  grpcB: number;
}

function proxyConfig(proxy: Proxy, variant: Variant, ports: Ports, dir: string): string {
  let lines = readFileSync(`deploy/proxies/${proxy === 'nginx' ? 'nginx.conf' : 'haproxy.cfg'}`, 'utf8').split('\n');
  if (variant !== 'retry') lines = lines.filter((l) => !l.includes('# retry'));
  if (variant === 'stock') lines = lines.filter((l) => !l.includes('# keepalive'));
  // HAProxy checks a gRPC server on its replica's HTTP port ("check port 8080").
  lines = lines.map((l) =>
    l.includes('10.0.0.1') ? l.replace('port 8080', `port ${ports.a}`) : l.includes('10.0.0.2') ? l.replace('port 8080', `port ${ports.b}`) : l,
  );
  let text = lines.join('\n');
  text = text.replaceAll('10.0.0.1:8080', `127.0.0.1:${ports.a}`).replaceAll('10.0.0.2:8080', `127.0.0.1:${ports.b}`);
  text = text.replaceAll('10.0.0.1:50051', `127.0.0.1:${ports.grpcA}`).replaceAll('10.0.0.2:50051', `127.0.0.1:${ports.grpcB}`);
  text =
    proxy === 'nginx'
      ? text.replace('listen 8080;', `listen 127.0.0.1:${ports.proxy};`).replace('listen 50051 http2;', `listen 127.0.0.1:${ports.grpcProxy} http2;`)
      : text.replace('bind :8080', `bind 127.0.0.1:${ports.proxy}`).replace('bind :50051', `bind 127.0.0.1:${ports.grpcProxy}`);
  const file = join(dir, `${proxy}-${variant}.conf`);
  writeFileSync(file, text);
  return file;
}

async function startProxy(proxy: Proxy, file: string, dir: string, port: number): Promise<ChildProcess> {
  const child =
    proxy === 'nginx'
      ? spawn('nginx', ['-c', file, '-p', dir, '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'nginx-error.log')};`], {
          stdio: 'ignore',
        })
      : spawn('haproxy', ['-f', file, '-db'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return child;
    if (Date.now() > deadline) throw new Error(`${proxy} did not answer in 10 s`);
    await sleep(100);
  }
}

/** Keep-alive clients posting /embed in a loop until stop(); every outcome is counted. */
function load(port: number): { stop(): Promise<Counts> } {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  let running = true;
  let requests = 0;
  let failed = 0;
  const reasons: Record<string, number> = {};
  const fail = (why: string) => {
    failed++;
    reasons[why] = (reasons[why] ?? 0) + 1;
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/embed',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) },
          timeout: 30_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) fail(String(res.statusCode));
            resolve();
          });
          res.on('error', (e: NodeJS.ErrnoException) => (fail(e.code ?? e.message), resolve()));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => {
        fail(e.code ?? e.message);
        resolve();
      });
      req.end(BODY);
      requests++;
    });
  const workers = Array.from({ length: CLIENTS }, async () => {
    while (running) await one();
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return { requests, failed, reasons };
    },
  };
}

/**
 * gRPC clients, each its own channel (HTTP/2 connection) to the proxy, calling tei.v1.Embed in a
 * loop until stop(), each call with a deadline; failures are counted by status code.
 */
function grpcLoad(targets: string[], channelOptions: grpc.ChannelOptions): { stop(): Promise<Counts> } {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(loadProto(PROTO_FILES.tei), 'Embed'), 'Embed');
  let running = true;
  let requests = 0;
  let failed = 0;
  const reasons: Record<string, number> = {};
  const clients = Array.from(
    { length: GRPC_CLIENTS },
    // A local subchannel pool, or grpc-js would share one connection between the clients.
    (_, i) => new Client(targets[i % targets.length], grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, ...channelOptions }),
  );
  const one = (client: grpc.Client) =>
    new Promise<void>((resolve) => {
      requests++;
      const embed = (client as unknown as Record<string, Function>).Embed.bind(client);
      embed(
        { inputs: 'steady traffic through a proxy', normalize: true, truncate: true },
        { deadline: Date.now() + GRPC_DEADLINE_MS },
        (error: grpc.ServiceError | null, response: { embeddings?: number[] }) => {
          const why = error ? (grpc.status[error.code] ?? String(error.code)) : response.embeddings?.length ? null : 'EMPTY';
          if (why) {
            failed++;
            reasons[why] = (reasons[why] ?? 0) + 1;
          }
          resolve();
        },
      );
    });
  const workers = clients.map(async (client) => {
    while (running) await one(client);
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      for (const c of clients) c.close();
      return { requests, failed, reasons };
    },
  };
}

/** The gRPC clients' channel options: the retry variant's clients take deploy/proxies' retryPolicy. */
function channelOptions(config: Variant): grpc.ChannelOptions {
  return config === 'retry' ? { 'grpc.service_config': readFileSync('deploy/proxies/grpc-service-config.json', 'utf8') } : {};
}

async function scenario(proxy: Proxy, config: Variant, signal: Signal, replicas: ServerProcess[], references: Float32Array[], dir: string): Promise<Outcome> {
  const port = (target: string | null) => Number(target!.split(':').pop());
  const ports: Ports = {
    proxy: await freePort(),
    grpcProxy: await freePort(),
    a: Number(new URL(replicas[0].httpUrl).port),
    b: Number(new URL(replicas[1].httpUrl).port),
    grpcA: port(replicas[0].grpcTarget),
    grpcB: port(replicas[1].grpcTarget),
  };
  const proxyProcess = proxy === 'direct' ? null : await startProxy(proxy, proxyConfig(proxy, config, ports, dir), dir, ports.proxy);
  try {
    // Without a proxy each client knows both replicas, half of them the stopped one first.
    const a = `127.0.0.1:${ports.grpcA}`;
    const b = `127.0.0.1:${ports.grpcB}`;
    const targets = proxy === 'direct' ? [`ipv4:${a},${b}`, `ipv4:${b},${a}`] : [`127.0.0.1:${ports.grpcProxy}`];
    const options = channelOptions(config);
    const traffic = proxy === 'direct' ? null : load(ports.proxy);
    const grpcTraffic = grpcLoad(targets, options);
    const streamTraffic = streamLoad(targets, references, {
      clients: STREAM_CLIENTS,
      window: STREAM_WINDOW,
      stopTimeoutMs: STREAM_STOP_TIMEOUT_MS,
      channelOptions: options,
    });
    await sleep(BEFORE_SIGNAL_MS);
    const victim = replicas[0].child;
    const exited = new Promise<number | null>((r) => victim.once('exit', (code) => r(code)));
    const t0 = performance.now();
    victim.kill(signal);
    const exitCode = await exited;
    const exitMs = Math.round(performance.now() - t0);
    streamTraffic.exited();
    await sleep(AFTER_EXIT_MS);
    const [http, grpcCounts, streams] = await Promise.all([traffic?.stop() ?? null, grpcTraffic.stop(), streamTraffic.stop()]);
    return { proxy, config, signal, http, grpc: grpcCounts, streams, exitMs, exitCode };
  } finally {
    if (proxyProcess) {
      proxyProcess.kill('SIGKILL');
      await new Promise((r) => (proxyProcess.exitCode !== null ? r(null) : proxyProcess.once('exit', r)));
    }
  }
}

function git(args: string[]): string {
  return spawnSync('git', args, { encoding: 'utf8' }).stdout.trim();
}

const listed = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([k, v]) => `${k} x${v}`)
    .join(', ') || '-';
const reasons = (c: Counts) => listed(c.reasons);
const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

interface Report {
  date: string;
  commit: string;
  machine: string;
  clients: number;
  grpcClients: number;
  streamClients: number;
  streamWindow: number;
  model: string;
  outcomes: Outcome[];
}

function markdown(report: Report): string {
  const rows = report.outcomes.map((o) => {
    const http = o.http ? `${o.http.requests} | **${o.http.failed}** | ${reasons(o.http)}` : '- | - | -';
    return `| ${o.proxy} | ${o.config} | ${o.signal} | ${http} | ${o.grpc.requests} | **${o.grpc.failed}** | ${reasons(o.grpc)} | ${o.exitMs} | ${o.exitCode ?? 'killed'} |`;
  });
  const streamRows = report.outcomes.map((o) => {
    const s = o.streams;
    return (
      `| ${o.proxy} | ${o.config} | ${o.signal} | ${s.streams} (${s.emptyStreams}) | ${listed(s.endings)} | ${s.sent} (${s.resent}) | ${s.answered} | ` +
      `${s.wrong} | ${sum(s.refused)}: ${listed(s.refused)} | **${sum(s.lost)}**: ${listed(s.lost)} | **${s.unanswered}** | ${s.answeredAfterExit} |`
    );
  });
  return [
    '# Failover: two replicas behind a proxy, one stopped under load',
    '',
    `${report.date}, commit ${report.commit}, ${report.machine}; ${report.clients} keep-alive clients posting /embed (2 texts) and, at the same time,`,
    `${report.grpcClients} gRPC clients (one channel each, ${GRPC_DEADLINE_MS / 1000} s deadline) calling tei.v1.Embed (1 text) and ${report.streamClients} gRPC clients`,
    `each keeping one bidirectional stream open (tei.v1.Embed/EmbedStream, 1 text a message, and coalesce.v1.Coalesce/EmbedBatchStream,`,
    `2 texts a message, alternately; ${report.streamWindow} messages unanswered at most), through the proxy to two replicas`,
    `(${report.model}, the server's default shutdown settings). A replica gets the signal ${BEFORE_SIGNAL_MS / 1000} s into the load;`,
    `the load goes on until ${AFTER_EXIT_MS / 1000} s after it exited. Configs: deploy/proxies/ ("defaults": without the lines marked "# retry";`,
    `"stock": nginx also without the lines marked "# keepalive", so nginx's own upstream settings; "retry": the whole example, and the gRPC`,
    `clients use deploy/proxies/grpc-service-config.json, a retryPolicy for UNAVAILABLE and INTERNAL). "direct": no proxy, each gRPC client`,
    `is given both replicas' addresses (half of them the stopped one first) and gRPC's default pick_first policy; no HTTP load.`,
    '',
    '## Requests and unary calls',
    '',
    '| proxy | config | signal | HTTP requests | HTTP failed | HTTP failures | gRPC calls | gRPC failed | gRPC failures | ms to exit | exit code |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Stream messages',
    '',
    'A stream that ends early leaves its last messages unanswered (answers come in order, so the client knows which): they count as',
    '"refused" when the stream ended with a gRPC status (the server\'s, or the proxy\'s), as **lost** when it was cut without one (a reset,',
    'a dropped connection: grpc-js then makes up the status shown). Either way the client opens a new stream (10 ms back-off, doubling',
    'while streams end without an answer) and sends them again. "unanswered": distinct messages never answered by the end of the run.',
    '',
    '| proxy | config | signal | streams (ended unanswered) | how streams ended | messages sent (resent) | answered | wrong | refused with a status | lost without a status | unanswered | answered after the exit |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...streamRows,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  for (const tool of ['nginx', 'haproxy']) {
    if (spawnSync('which', [tool]).status !== 0) throw new Error(`${tool} is not installed (apt-get install -y nginx haproxy)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-failover-'));
  const start = () => startServer({ model: MODEL, intraOpThreads: 1, grpc: true });
  const replicas = [await start(), await start()];
  const outcomes: Outcome[] = [];
  try {
    // The second replica is never stopped: its vectors are the reference every stream answer is checked against.
    const references = await referenceVectors(replicas[1].grpcTarget!);
    const configs: Record<Proxy, readonly Variant[]> = { direct: ['defaults', 'retry'], nginx: ['stock', 'defaults', 'retry'], haproxy: ['defaults', 'retry'] };
    for (const proxy of ['direct', 'nginx', 'haproxy'] as const) {
      for (const config of configs[proxy]) {
        for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
          if (ONLY && !ONLY.includes(`${proxy}:${config}:${signal}`)) continue;
          const o = await scenario(proxy, config, signal, replicas, references, dir);
          const s = o.streams;
          console.log(
            `${proxy} ${config} ${signal}: ` +
              (o.http ? `HTTP ${o.http.failed} of ${o.http.requests} failed ${JSON.stringify(o.http.reasons)}, ` : '') +
              `gRPC ${o.grpc.failed} of ${o.grpc.requests} failed ${JSON.stringify(o.grpc.reasons)}, ` +
              `streams ${s.streams}: ${s.answered} of ${s.sent} messages answered, refused ${JSON.stringify(s.refused)}, lost ${JSON.stringify(s.lost)}, ` +
              `${s.unanswered} never answered, ${s.wrong} wrong (exit ${o.exitCode} after ${o.exitMs} ms)`,
          );
          outcomes.push(o);
          replicas[0] = await start();
        }
      }
    }
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
  const report: Report = {
    date: new Date().toISOString(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}, ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim()}, ${spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].split(' - ')[0]}`,
    clients: CLIENTS,
    grpcClients: GRPC_CLIENTS,
    streamClients: STREAM_CLIENTS,
    streamWindow: STREAM_WINDOW,
    model: MODEL!,
    outcomes,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/${OUT}.json`, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(`bench/results/${OUT}.md`, markdown(report));
  console.log(markdown(report));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exitCode = 1;
});
