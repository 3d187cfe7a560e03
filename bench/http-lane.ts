/**
 * `node dist/bench/http-lane.js`: what one HTTP thread spends per request with the server's Node
 * listener (listener.ts, the one request path) and with hono on @hono/node-server 2.x serving the
 * same routes (hono-app.ts), side by side. The server is one process serving the real
 * routes over a facade that answers at once (after a turn, as the main thread's answers do), so
 * what is measured is HTTP: parsing, routing, reading the body, writing the answer. The load
 * generator is lean-http.ts clients in this process. Rounds alternate the two servers.
 * Prints a table and writes bench/results/http-lane.{json,md}.
 *
 *   --clients 32  --seconds 3  --rounds 3  --dimensions 768  --out DIR
 *   LANE_PROF=DIR (environment): each server process writes a V8 CPU profile there (node --cpu-prof)
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flagValue } from './args.js';
import { LeanConnection, requestBytes } from './lean-http.js';
import { honoListener } from './hono-app.js';
import { httpRoutes, type HttpDeps, type TextFacade } from '../src/transport/http/app.js';
import { routeListener } from '../src/transport/http/listener.js';

type Mode = 'lane' | 'hono';
const MODES: Mode[] = ['lane', 'hono'];

/** The workloads: W2's shape (one text, packed answer), a JSON answer, OpenAI's base64. */
const CASES = [
  {
    name: '/embed, 1 text, octet-stream',
    path: '/embed',
    body: { inputs: 'a sentence of about forty tokens, '.repeat(4) },
    accept: 'application/octet-stream',
  },
  { name: '/embed, 1 text, JSON', path: '/embed', body: { inputs: 'a sentence of about forty tokens, '.repeat(4) }, accept: 'application/json' },
  {
    name: '/v1/embeddings, 1 text, base64',
    path: '/v1/embeddings',
    body: { input: 'a sentence of about forty tokens, '.repeat(4), encoding_format: 'base64', model: 'm' },
    accept: 'application/json',
  },
];

/** The facade's task methods, which this benchmark's routes never call. */
const unused = async (): Promise<never> => {
  throw new Error('not served by this benchmark');
};

function serve(mode: Mode, dimensions: number): void {
  const vector = Float32Array.from({ length: dimensions }, (_, i) => Math.sin(i));
  const embedder: TextFacade = {
    info: {
      id: 'bench',
      dimensions,
      maxInputLength: 512,
      padded: true,
      pooling: 'mean',
      normalizedByModel: false,
      device: 'cpu',
      provider: 'bench',
      onnxFile: 'none',
      inputNames: [],
      outputName: 'out',
      outputKind: 'pooled',
      kind: 'embedding',
      labels: null,
      problemType: 'single_label_classification',
    },
    embed: (r) =>
      new Promise((resolve) =>
        setImmediate(() =>
          resolve({ vectors: r.inputs.map(() => vector), promptTokens: 42, timings: { tokenizationMs: 1, queueMs: 1, inferenceMs: 4, totalMs: 6 } }),
        ),
      ),
    tokenize: async () => [],
    decode: async () => [],
    rerank: unused,
    predict: unused,
    embedSparse: unused,
    embedAll: unused,
  };
  const deps: HttpDeps = { embedder, ready: () => true, modelName: 'bench', payloadLimit: 2_000_000, info: () => ({}), metrics: () => '' };
  const table = httpRoutes(deps);
  const server = createServer({ requireHostHeader: false }, mode === 'lane' ? routeListener(table, deps.payloadLimit) : honoListener(table, deps.payloadLimit));
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.on('SIGINT', () => process.exit(0));
  process.on('message', (m) => {
    if (m === 'cpu') process.send!({ cpu: process.cpuUsage() });
  });
}

interface Row {
  mode: Mode;
  case: string;
  round: number;
  requestsPerS: number;
  serverCpuUsPerRequest: number;
}

async function measure(
  child: ChildProcess,
  port: number,
  c: (typeof CASES)[number],
  clients: number,
  seconds: number,
): Promise<{ requestsPerS: number; serverCpuUsPerRequest: number }> {
  const cpu = () =>
    new Promise<NodeJS.CpuUsage>((resolve) => {
      child.once('message', (m: { cpu: NodeJS.CpuUsage }) => resolve(m.cpu));
      child.send('cpu');
    });
  const bytes = requestBytes('127.0.0.1', c.path, { 'content-type': 'application/json', accept: c.accept }, Buffer.from(JSON.stringify(c.body)));
  let counting = false;
  let stop = false;
  let count = 0;
  const loops = Array.from({ length: clients }, async () => {
    const connection = new LeanConnection('127.0.0.1', port);
    while (!stop) {
      const r = await connection.send(bytes);
      if (r.status !== 200) throw new Error(`${c.name}: status ${r.status}: ${r.body.toString().slice(0, 200)}`);
      if (counting) count++;
    }
    connection.close();
  });
  await new Promise((r) => setTimeout(r, 500));
  const c0 = await cpu();
  const t0 = performance.now();
  counting = true;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const t1 = performance.now();
  const c1 = await cpu();
  stop = true;
  await Promise.all(loops);
  const us = c1.user + c1.system - c0.user - c0.system;
  return { requestsPerS: count / ((t1 - t0) / 1000), serverCpuUsPerRequest: us / count };
}

function gitCommit(): string {
  try {
    return (
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() +
      (execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() ? '+changes' : '')
    );
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const commit = gitCommit();
  const honoVersion = (
    JSON.parse(readFileSync(fileURLToPath(new URL('../../node_modules/@hono/node-server/package.json', import.meta.url)), 'utf8')) as { version: string }
  ).version;
  const clients = Number(flagValue('clients', '32'));
  const seconds = Number(flagValue('seconds', '3'));
  const rounds = Number(flagValue('rounds', '3'));
  const dimensions = Number(flagValue('dimensions', '768'));
  const out = flagValue('out', fileURLToPath(new URL('../../bench/results/', import.meta.url)));
  const rows: Row[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const mode of round % 2 ? MODES : [...MODES].reverse()) {
      const child = fork(fileURLToPath(import.meta.url), ['--serve', mode, '--dimensions', String(dimensions)], {
        execArgv: process.env.LANE_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.LANE_PROF] : [],
      });
      const { port } = await new Promise<{ port: number }>((r) => child.once('message', r as (m: unknown) => void));
      for (const c of CASES) rows.push({ mode, case: c.name, round, ...(await measure(child, port, c, clients, seconds)) });
      child.kill('SIGINT');
    }
  }
  const best = (mode: Mode, name: string) => {
    const mine = rows.filter((r) => r.mode === mode && r.case === name);
    return mine.reduce((a, b) => (b.serverCpuUsPerRequest < a.serverCpuUsPerRequest ? b : a));
  };
  const lines = [
    `# HTTP: the Node listener against hono on @hono/node-server ${honoVersion} (${cpus().length} cores, ${clients} clients, best of ${rounds} alternating rounds)`,
    '',
    `${new Date().toISOString()}, commit ${commit}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores), Node ${process.version}.`,
    'Server CPU per request and requests/s; the facade answers at once, so this is the HTTP layer alone.',
    '',
    '| request | Node listener µs CPU / req | hono µs CPU / req | hono / listener | listener req/s | hono req/s |',
    '| --- | --- | --- | --- | --- | --- |',
    ...CASES.map((c) => {
      const [lane, hono] = [best('lane', c.name), best('hono', c.name)];
      return `| ${c.name} | ${lane.serverCpuUsPerRequest.toFixed(1)} | ${hono.serverCpuUsPerRequest.toFixed(1)} | ${(hono.serverCpuUsPerRequest / lane.serverCpuUsPerRequest).toFixed(2)}x | ${Math.round(lane.requestsPerS)} | ${Math.round(hono.requestsPerS)} |`;
    }),
    '',
  ];
  console.log(lines.join('\n'));
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'http-lane.json'),
    JSON.stringify(
      {
        started: new Date().toISOString(),
        commit,
        machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
        honoNodeServer: honoVersion,
        clients,
        seconds,
        rounds,
        rows,
      },
      null,
      2,
    ),
  );
  writeFileSync(join(out, 'http-lane.md'), lines.join('\n'));
}

const serveMode = flagValue('serve');
if (serveMode) serve(serveMode as Mode, Number(flagValue('dimensions', '768')));
else await main();
