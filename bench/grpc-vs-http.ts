/**
 * HTTP /embed vs gRPC on the same server process, same workload, side by side:
 *   http        POST /embed, one request per client request (JSON in, JSON out)
 *   grpc-tei    tei.v1.Embed, one unary call per text (what a TEI gRPC client does)
 *   grpc-batch  coalesce.v1.EmbedBatch, one call per client request (packed float32 out)
 * Each phase sends the same fixed list of requests (1-4 short sentences) from `concurrency`
 * closed-loop clients; phases alternate over several rounds so drift on the shared machine hits
 * every transport alike. Writes bench/results/grpc-vs-http.json and .md.
 *
 *   node dist/bench/grpc-vs-http.js [--model DIR] [--concurrency 32] [--requests 2000] [--rounds 2] [--threads 0]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { withCpu, type CpuShares } from './cpu-usage.js';
import { grpcDriver } from './drivers/grpc-driver.js';
import { httpDriver } from './drivers/http-driver.js';
import type { Driver } from './drivers/types.js';
import { percentile } from './load.js';
import { startServer } from './server-process.js';
import { makeWorkload } from './texts.js';
import { PROJECT_ROOT } from '../src/paths.js';

interface Options {
  model: string;
  concurrency: number;
  requests: number;
  warmup: number;
  rounds: number;
  threads: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { model: 'test/fixtures/tiny-bert', concurrency: 32, requests: 2000, warmup: 200, rounds: 2, threads: 0 };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    switch (argv[i]) {
      case '--model':
        o.model = value();
        break;
      case '--concurrency':
        o.concurrency = Number(value());
        break;
      case '--requests':
        o.requests = Number(value());
        break;
      case '--warmup':
        o.warmup = Number(value());
        break;
      case '--rounds':
        o.rounds = Number(value());
        break;
      case '--threads':
        o.threads = Number(value());
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

interface Phase {
  transport: string;
  round: number;
  requests: number;
  texts: number;
  errors: number;
  firstError: string | null;
  wallS: number;
  requestsPerS: number;
  textsPerS: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number };
  cpu: CpuShares;
  /** Server CPU time per 1,000 texts: the transport's cost, independent of how busy the machine was. */
  serverCpuMsPerKText: number;
}

function median(values: number[]): number {
  const s = Float64Array.from(values).sort();
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Sends every request once from `concurrency` clients sharing one cursor; returns per-request latencies. */
async function drive(driver: Driver, requests: string[][], concurrency: number) {
  let cursor = 0;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const client = async () => {
    while (cursor < requests.length) {
      const texts = requests[cursor++];
      const start = performance.now();
      try {
        await driver.embed(texts);
        latencies.push(performance.now() - start);
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  return { latencies, errors, firstError, wallS: (performance.now() - start) / 1000 };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const { requests } = makeWorkload({ seed: 7, requests: o.requests + o.warmup, singleShare: 0.25, maxTexts: 4 });
  const warmup = requests.slice(0, o.warmup);
  const measured = requests.slice(o.warmup);
  const texts = measured.reduce((n, r) => n + r.length, 0);

  const server = await startServer({ model: o.model, intraOpThreads: o.threads, grpc: true });
  if (!server.grpcTarget) throw new Error('the server has no gRPC port');
  const drivers: Record<string, Driver> = {
    http: await httpDriver(server.httpUrl),
    'grpc-tei': await grpcDriver(server.grpcTarget, { api: 'tei' }),
    'grpc-batch': await grpcDriver(server.grpcTarget, { api: 'batch' }),
  };
  const phases: Phase[] = [];
  try {
    for (const driver of Object.values(drivers)) await drive(driver, warmup, o.concurrency);
    for (let round = 1; round <= o.rounds; round++) {
      // Alternate the order so no transport always runs first (or last) in a round.
      const order = Object.keys(drivers);
      if (round % 2 === 0) order.reverse();
      for (const transport of order) {
        const { result, cpu } = await withCpu({ server: server.child.pid!, client: process.pid }, () => drive(drivers[transport], measured, o.concurrency));
        const sorted = Float64Array.from(result.latencies).sort();
        const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
        const phase: Phase = {
          transport,
          round,
          requests: measured.length,
          texts,
          errors: result.errors,
          firstError: result.firstError,
          wallS: result.wallS,
          requestsPerS: measured.length / result.wallS,
          textsPerS: texts / result.wallS,
          latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), mean },
          cpu,
          serverCpuMsPerKText: (cpu.cores.server * result.wallS * 1000 * 1000) / texts,
        };
        phases.push(phase);
        console.log(
          `round ${round} ${transport.padEnd(10)} ${phase.requestsPerS.toFixed(0).padStart(6)} req/s ${phase.textsPerS.toFixed(0).padStart(6)} texts/s` +
            `  p50 ${phase.latencyMs.p50.toFixed(1)} ms  p99 ${phase.latencyMs.p99.toFixed(1)} ms  server ${cpu.cores.server.toFixed(2)} cores` +
            `  client ${cpu.cores.client.toFixed(2)}  others ${cpu.othersCores.toFixed(2)}  errors ${phase.errors}`,
        );
      }
    }
  } finally {
    for (const d of Object.values(drivers)) d.close();
    await server.stop();
  }

  const summary = Object.keys(drivers).map((transport) => {
    const runs = phases.filter((p) => p.transport === transport);
    const med = (f: (p: Phase) => number) => median(runs.map(f));
    return {
      transport,
      requestsPerS: med((p) => p.requestsPerS),
      textsPerS: med((p) => p.textsPerS),
      p50Ms: med((p) => p.latencyMs.p50),
      p99Ms: med((p) => p.latencyMs.p99),
      serverCpuMsPerKText: med((p) => p.serverCpuMsPerKText),
      errors: runs.reduce((n, p) => n + p.errors, 0),
    };
  });
  const http = summary.find((s) => s.transport === 'http')!;
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version },
    options: o,
    workload: { requests: measured.length, texts, textsPerRequest: '1-4 (25% single)', warmupRequests: o.warmup },
    summary: summary.map((s) => ({
      ...s,
      throughputVsHttp: s.requestsPerS / http.requestsPerS,
      serverCpuVsHttp: s.serverCpuMsPerKText / http.serverCpuMsPerKText,
    })),
    phases,
  };

  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'grpc-vs-http.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, 'grpc-vs-http.md'), markdown(report));
  console.log(markdown(report));
}

function markdown(r: {
  date: string;
  machine: { cpus: number; cpuModel: string; node: string };
  options: Options;
  workload: { requests: number; texts: number };
  summary: any[];
}): string {
  const f = (n: number, d = 0) => n.toFixed(d);
  const lines = [
    '# HTTP vs gRPC, same server, same workload',
    '',
    `${r.date} · ${r.machine.cpus} CPUs (${r.machine.cpuModel}, shared with other work) · Node ${r.machine.node}`,
    `Model \`${r.options.model}\` · ${r.options.concurrency} concurrent closed-loop clients · ${r.workload.requests} requests (${r.workload.texts} texts, 1-4 sentences each) per phase · median of ${r.options.rounds} rounds, phases alternating.`,
    '',
    '| transport | req/s | texts/s | p50 ms | p99 ms | server CPU ms / 1k texts | throughput vs HTTP | server CPU vs HTTP | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.summary.map(
      (s) =>
        `| ${s.transport} | ${f(s.requestsPerS)} | ${f(s.textsPerS)} | ${f(s.p50Ms, 1)} | ${f(s.p99Ms, 1)} | ${f(s.serverCpuMsPerKText)} | ${f(s.throughputVsHttp, 2)}x | ${f(s.serverCpuVsHttp, 2)}x | ${s.errors} |`,
    ),
    '',
    "- **http**: `POST /embed` with the request's texts (JSON), keep-alive connection per client.",
    "- **grpc-tei**: `tei.v1.Embed`, one unary call per text (TEI's Embed takes one input), all on one channel.",
    '- **grpc-batch**: `coalesce.v1.EmbedBatch`, one call per request, vectors as packed little-endian float32.',
    '- The load generator runs on the same cores as the server; "server CPU ms / 1k texts" is the server\'s own cost and does not depend on it.',
    '',
  ];
  return lines.join('\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
