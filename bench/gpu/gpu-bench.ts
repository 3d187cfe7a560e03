/**
 * The GPU benchmark, one device run (bench/gpu/run-device.sh): BERT-base (random weights, real
 * vocabulary) made by scripts/device/make_bert_base.py, PyTorch anchors by torch_bench.py, then
 *   1. CPU-side costs per request (tokenization, JSON), in this process (which never touches CUDA);
 *   2. the raw ceiling: the server's own session workers on pre-formed batches (raw.ts, one child
 *      process per configuration: fp16 with pooling in the graph, 1 and 2 sessions; token output
 *      pooled on the host; the unoptimized fp32 export);
 *   3. Coalesce over HTTP on loopback (dist/src/main.js as one child process; load from several
 *      loader processes): W1 32 x 128-token texts per request, 64 clients; W2 one log-normal text
 *      per request, 256 clients; W3 one short text, 1 client; JSON and packed float32 answers;
 *      server CPU, GPU memory and a one-process check (children, GPU processes) during load.
 * Writes gpu-bench.json and gpu-bench.md to --out and prints the summary table last.
 *
 * usage: node dist/bench/gpu/gpu-bench.js --model DIR [--torch torch.json] [--out DIR] [--device cuda] [--quick]
 *   [--onnx-file F]          the graph to serve (default model_fp16.onnx, else model.onnx)
 *   [--raw full|minimal|replay|none] minimal: only the server's own settings (2 sessions, shape buckets), W2 sorted and in arrival order,
 *                            and in arrival order in batches of 24-64 texts on the served sessions; then, after the served
 *                            phases, W2 binary's own batch sizes (the server runs with --log-batches) replayed on as many raw
 *                            sessions as served (served / raw on the same batches); replay: only that replay
 *   [--server-flags "..."]   more server flags (e.g. "--http-threads 4")
 *   [--node-flags "..."]     Node flags for the server process (e.g. "--cpu-prof --cpu-prof-dir=DIR")
 *   [--phases "W2 binary,W3 json"]  only these served phases
 *   [--loaders N]            load generator processes per phase (default: a third of the cores, at most 8)
 *   [--http-client node|lean] the load generator's client: node:http (default) or bench/lean-http.ts (like wrk)
 *   [--tag T]                write gpu-bench-T.{json,md}
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readManifest } from '../../src/model-prep/manifest.js';
import { HfTokenizer } from '../../src/preprocess/tokenizer.js';
import { vectorsToJsonBytes } from '../../src/transport/http/float-json.js';
import { runChild } from './child.js';
import { histogramMean, runLoadPhase } from './load-phase.js';
import { flagValue } from '../args.js';
import { percentile } from '../load.js';
import type { RawTask } from './raw.js';

/** Seconds (as /metrics has them) to milliseconds, keeping null. */
const msOf = (s: number | null) => (s === null ? null : s * 1000);

const args = process.argv.slice(2);
const MODEL = flagValue('model') ?? '';
if (!MODEL) throw new Error('--model DIR is required (from scripts/device/make_bert_base.py)');
const OUT = flagValue('out', 'bench/results');
const DEVICE = flagValue('device', 'cuda');
const QUICK = args.includes('--quick');
const TORCH = flagValue('torch');
const MAIN_JS = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const FP16 = flagValue('onnx-file') ?? (existsSync(join(MODEL, 'model_fp16.onnx')) ? 'model_fp16.onnx' : 'model.onnx');
const RAW = flagValue('raw', 'full');
/** Whether W2 binary's served batch sizes are replayed on the raw sessions after the served phases. */
const REPLAY = RAW === 'minimal' || RAW === 'replay';
const SERVER_FLAGS = flagValue('server-flags', '').split(' ').filter(Boolean);
const NODE_FLAGS = flagValue('node-flags', '').split(' ').filter(Boolean);
const PHASES = flagValue('phases')
  ?.split(',')
  .map((p) => p.trim());
const TAG = flagValue('tag');
/** The load generator's HTTP client: node:http, or lean (bench/lean-http.ts, one socket per client like wrk). */
const HTTP_CLIENT = flagValue('http-client', 'node') as 'node' | 'lean';
/** Load generator processes per phase (default: a third of the cores, at most 8). */
const LOADERS_FLAG = flagValue('loaders');
const LOADERS = LOADERS_FLAG !== null ? Number(LOADERS_FLAG) : null;
const OUT_NAME = TAG ? `gpu-bench-${TAG}` : 'gpu-bench';
const CORES = availableParallelism();
const started = Date.now();
const log = (...a: unknown[]) => console.error(`[gpu-bench ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s]`, ...a);

interface Texts {
  w1: string[];
  w2: string[];
  w3: string;
  w2_tokens: number[];
}
const texts = JSON.parse(readFileSync(join(MODEL, 'texts.json'), 'utf8')) as Texts;
const torch = TORCH && existsSync(TORCH) ? (JSON.parse(readFileSync(TORCH, 'utf8')) as Record<string, any>) : {};
const report: Record<string, any> = {
  started: new Date(started).toISOString(),
  model: MODEL,
  graph: FP16,
  device: DEVICE,
  cores: CORES,
  quick: QUICK,
  tag: TAG,
  extraServerFlags: SERVER_FLAGS,
};
mkdirSync(OUT, { recursive: true });

// ---------------------------------------------------------------------------------------------
// 1. CPU-side costs per request, measured here (one core)

function cpuCosts(): Record<string, number> {
  const manifest = readManifest(MODEL, { onnxFile: FP16 });
  const tok = HfTokenizer.fromFiles(manifest.tokenizerPath, manifest.tokenizerConfigPath, manifest.maxLength);
  const opts = { truncate: true, direction: 'right' as const };
  // µs per call, the best of 5 rounds (other processes share the cores)
  const time = (fn: () => void, n: number) => {
    fn();
    let best = Infinity;
    for (let round = 0; round < 5; round++) {
      const t = performance.now();
      for (let i = 0; i < n; i++) fn();
      best = Math.min(best, ((performance.now() - t) / n) * 1000);
    }
    return best;
  };
  let k = 0;
  const w1Text = time(() => tok.encode(texts.w1[k++ % 512], opts), QUICK ? 20 : 100);
  let tokens2 = 0;
  const n2 = QUICK ? 100 : 1000;
  const t2 = performance.now();
  for (let i = 0; i < n2; i++) tokens2 += tok.encode(texts.w2[i], opts).ids.length;
  const w2Text = ((performance.now() - t2) / n2) * 1000;
  const v = new Float32Array(768).map(() => (Math.random() - 0.5) * 0.07);
  const vectors32 = Array.from({ length: 32 }, () => v);
  const oldJson = time(() => '[' + Array.from(v, (x) => x.toPrecision(9)).join(',') + ']', 200);
  const newJson = time(() => vectorsToJsonBytes([v]), 200);
  const packed = time(() => new Float32Array(v).buffer, 1000);
  const body1 = JSON.stringify({ inputs: texts.w1.slice(0, 32) });
  const body2 = JSON.stringify({ inputs: texts.w2[0] });
  const parse1 = time(() => JSON.parse(body1), 1000);
  const parse2 = time(() => JSON.parse(body2), 5000);
  const w1Json = time(() => vectorsToJsonBytes(vectors32), 50);
  return {
    tokenizeW1TextUs: w1Text,
    tokenizeW2TextUs: w2Text,
    tokenizeUsPerToken: w2Text / (tokens2 / n2),
    jsonVectorToPrecisionUs: oldJson,
    jsonVectorUs: newJson,
    jsonW1ResponseUs: w1Json,
    packedVectorUs: packed,
    parseW1BodyUs: parse1,
    parseW2BodyUs: parse2,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Raw sessions

async function raw(task: Partial<RawTask> & { label: string }): Promise<any> {
  const full: RawTask = {
    model: MODEL,
    onnxFile: FP16,
    device: DEVICE,
    sessions: 1,
    poolInGraph: true,
    w1Batches: [256],
    w2BudgetTokens: 0,
    w2MaxBatch: 512,
    w2Passes: 3,
    seqMultiple: 1,
    batchMultiple: 1,
    memPattern: 'on',
    shapeBuckets: 'off',
    latency: false,
    referenceTexts: [],
    secondsPerPoint: QUICK ? 0.5 : 2.5,
    ...task,
  };
  log(`raw ${task.label} ...`);
  const r = await runChild('raw.js', full, 240_000);
  if (r.error) log(`raw ${task.label} FAILED: ${r.error}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// 3. Served over HTTP

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

function gpuProcesses(): { pid: number; usedMiB: number }[] | null {
  const r = spawnSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(',').map((s) => Number(s.trim())))
    .map(([pid, usedMiB]) => ({ pid, usedMiB }));
}

function gpuUsedTotalMiB(): number | null {
  const r = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim().split('\n')[0]) : null;
}

function threadsOf(pid: number): number {
  const m = /Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
  log(): string;
}

async function startServer(flags: string[]): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      MAIN_JS,
      '--model',
      MODEL,
      '--onnx-file',
      FP16,
      '--device',
      DEVICE,
      '--port',
      '0',
      '--hostname',
      '127.0.0.1',
      '--grpc-port',
      '-1',
      ...flags,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let text = '';
  let listening = false;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not listen in 180 s:\n' + text)), 180_000);
    child.stderr.on('data', (d) => {
      text += d;
      // Once listening, only append: with --log-batches the log grows by a line per model call.
      if (listening) return;
      const m = /listening.* http=(\S+)/.exec(text);
      if (m) {
        listening = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}):\n${text}`)));
  });
  return {
    url,
    pid: child.pid!,
    log: () => text,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000);
      }),
  };
}

/** TEI's per-request timing headers (ms, rounded), summed by the loaders. */
const TIMING_HEADERS = ['x-tokenization-time', 'x-queue-time', 'x-inference-time', 'x-total-time'];

interface Phase {
  name: string;
  bodiesFile: string;
  clients: number;
  shards: number;
  accept: 'json' | 'binary';
  textsPerRequest: number;
}

async function runPhase(server: Server, phase: Phase, dimensions: number): Promise<Record<string, any>> {
  const duration = QUICK ? 3 : 10;
  const middle: Record<string, any> = {};
  const r = await runLoadPhase({
    url: server.url,
    bodiesFile: phase.bodiesFile,
    clients: phase.clients,
    loaders: phase.shards,
    accept: phase.accept,
    textsPerRequest: phase.textsPerRequest,
    dimensions,
    sumHeaders: TIMING_HEADERS,
    warmupS: QUICK ? 1.5 : 4,
    seconds: duration,
    pid: server.pid,
    client: HTTP_CLIENT,
    atMiddle: () => {
      middle.children = childrenOf(server.pid);
      middle.threads = threadsOf(server.pid);
      middle.gpu = gpuProcesses();
      middle.gpuUsed = gpuUsedTotalMiB();
    },
  });
  const { latencyMs, requests, tokens, errors, cpu, metrics } = r;
  const batchSizes = loggedBatchSizes(server.log(), r.window);
  // Where a request's time went inside the facade (the server's own headers), against what the
  // client waited: the difference is spent in HTTP threads, hops between threads and the loaders.
  const serverMeanMs = Object.fromEntries(TIMING_HEADERS.map((h) => [h.slice(2, -5), r.headerMeans[h]]));
  const serverCores = cpu?.cores.server ?? NaN;
  const mainCores = cpu?.mainThreadCores.server ?? NaN;
  const batches = metrics.te_batch_next_size_count ?? 0;
  const out = {
    name: phase.name,
    clients: phase.clients,
    accept: phase.accept,
    loaderProcesses: r.loaders,
    durationS: duration,
    requests,
    errors,
    firstError: r.firstError,
    requestsPerS: requests / duration,
    tokensPerS: tokens / duration,
    p50Ms: latencyMs.p50,
    p90Ms: latencyMs.p90,
    p99Ms: latencyMs.p99,
    meanMs: latencyMs.mean,
    serverMeanMs,
    serverCores,
    serverMainThreadCores: mainCores,
    // Busy cores of the whole machine (server, load generators, everything): near all of them, CPU is the limit.
    machineCores: cpu ? serverCores + cpu.othersCores : NaN,
    serverCpuUsPerRequest: ((serverCores * duration) / Math.max(1, requests)) * 1e6,
    serverCpuUsPerToken: ((serverCores * duration) / Math.max(1, tokens)) * 1e6,
    mainThreadUsPerRequest: ((mainCores * duration) / Math.max(1, requests)) * 1e6,
    batches,
    meanBatchSize: histogramMean(metrics, 'te_batch_next_size'),
    // Each model call's inputs in the window, in order (--log-batches), for the raw replay of the same batches.
    batchSizes,
    batchSizeQuantiles: batchSizes.length ? quantiles(batchSizes) : null,
    // te_request_inference_duration is observed once per model call
    meanBatchMs: msOf(histogramMean(metrics, 'te_request_inference_duration')),
    // The session threads' own share of meanBatchMs; the rest is batches and answers waiting for threads.
    meanSessionMs: msOf(histogramMean(metrics, 'coalesce_batch_session_duration')),
    serverChildren: middle.children ?? null,
    serverThreads: middle.threads ?? null,
    // Which threads are busy (HTTP threads sharing one listening socket may not share its connections evenly).
    threadCores: r.threads,
    gpuProcesses: middle.gpu ?? null,
    gpuUsedTotalMiB: middle.gpuUsed ?? null,
  };
  log(`${phase.name} busy threads (cores): ${(out.threadCores ?? []).map((t) => `${t.tid} ${t.name} ${t.cores.toFixed(2)}`).join(', ')}`);
  log(
    `${phase.name}: ${(out.tokensPerS / 1e6).toFixed(3)} M tok/s, ${out.requestsPerS.toFixed(0)} req/s, p50 ${out.p50Ms.toFixed(2)} ms, p99 ${out.p99Ms.toFixed(2)} ms, errors ${errors}${out.firstError ? ' (' + out.firstError + ')' : ''}, server ${out.serverCores.toFixed(2)} cores (main ${out.serverMainThreadCores.toFixed(2)}), machine ${out.machineCores.toFixed(1)} of ${CORES} cores busy, mean batch ${out.meanBatchSize?.toFixed(1)} in ${out.meanBatchMs?.toFixed(2)} ms (${out.meanSessionMs?.toFixed(2)} in its session); mean ${out.meanMs.toFixed(2)} ms, of which in the facade ${JSON.stringify(serverMeanMs, (_, v) => (typeof v === 'number' ? Number(v.toFixed(2)) : v))}`,
  );
  return out;
}

/** The text batch sizes the server logged (--log-batches) in the window, in order; [] without the flag. Like startServer, reads the text log format. */
function loggedBatchSizes(log: string, window: { start: number; end: number }): number[] {
  const sizes: number[] = [];
  for (const m of log.matchAll(/^(\S+) batch kind=text inputs=(\d+)/gm)) {
    const at = Date.parse(m[1]);
    if (at >= window.start && at <= window.end) sizes.push(Number(m[2]));
  }
  return sizes;
}

function quantiles(xs: number[]): Record<string, number> {
  const sorted = [...xs].sort((a, b) => a - b);
  return Object.fromEntries([10, 25, 50, 75, 90].map((q) => [`p${q}`, percentile(sorted, q)]));
}

function writeBodies(name: string, bodies: { body: string; tokens: number }[]): string {
  // Not under --out: only results travel back from the device.
  const file = join(tmpdir(), `coalesce-gpu-bench-bodies-${process.pid}-${name}.json`);
  writeFileSync(file, JSON.stringify(bodies));
  return file;
}

// ---------------------------------------------------------------------------------------------

interface RawChoice {
  ceiling: { w1: any; w2: any };
  chosen: number;
  seqMultiple: number;
  batchMultiple: number;
  memPattern: string;
  shapeBuckets: string;
  sessions: number;
}

/** Sweeps: batch sizes, shape handling, 1 vs 2 sessions, host pooling, the unoptimized export. */
async function fullRaw(reference: string[], budgetW2: number): Promise<RawChoice> {
  const w1Sizes = QUICK ? [8, 32] : [64, 128, 256, 512];
  // No shape padding first: the baseline, the batch-size sweep, latency and the correctness sample.
  report.raw.fp16Pooled1 = await raw({
    label: 'fp16, pooled in graph, 1 session, no shape padding, memory pattern on (ORT default)',
    w1Batches: w1Sizes,
    w2BudgetTokens: budgetW2,
    latency: true,
    referenceTexts: reference,
  });
  const points: any[] = report.raw.fp16Pooled1.w1 ?? [];
  const best = Math.max(...points.map((p) => p.tokensPerS));
  const chosen = points.find((p) => p.tokensPerS === best)?.batch ?? 256;
  // Shape handling: sequence buckets and ORT's per-shape memory pattern, judged on W2 (cold + warm pass).
  // Shape buckets (length x32, rows to a power of two, every bucket warmed at load) vs plain x8 padding.
  const variants: [string, number, number, string, string][] = [
    ['seq8', 8, 1, 'on', 'off'],
    ['buckets', 0, 1, 'on', 'on'],
  ];
  for (const [key, seqMultiple, batchMultiple, memPattern, shapeBuckets] of variants) {
    const label = shapeBuckets === 'on' ? 'shape buckets (length x32, rows 2^k, warmed at load)' : `seq x${seqMultiple}`;
    report.raw[key] = await raw({
      label: `fp16, pooled in graph, 1 session, ${label}`,
      w1Batches: key === 'buckets' ? [chosen] : [],
      w2BudgetTokens: budgetW2,
      seqMultiple,
      batchMultiple,
      memPattern,
      shapeBuckets,
      latency: key === 'buckets',
    });
  }
  const w2Cost = (r: any) => (r?.w2?.passTokensPerS ? 1 / r.w2.passTokensPerS[0] + 1 / r.w2.passTokensPerS[1] : Infinity);
  const choices: [string, number, number, string, string][] = [['fp16Pooled1', 1, 1, 'on', 'off'], ...variants];
  const [bucketKey, seqMultiple, batchMultiple, memPattern, shapeBuckets] = choices.reduce((a, b) =>
    w2Cost(report.raw[b[0]]) < w2Cost(report.raw[a[0]]) ? b : a,
  );
  report.raw.fp16Pooled2 = await raw({
    label: `fp16, pooled in graph, 2 sessions, ${bucketKey}`,
    sessions: 2,
    w1Batches: [chosen],
    w2BudgetTokens: budgetW2,
    seqMultiple,
    batchMultiple,
    memPattern,
    shapeBuckets,
    latency: true,
  });
  report.raw.fp16Token1 = await raw({ label: 'fp16, [B,S,D] out, pooled on host', poolInGraph: false, w1Batches: [chosen] });
  if (FP16 !== 'model.onnx')
    report.raw.fp32Pooled1 = await raw({ label: 'fp32 export, not optimized, pooled in graph', onnxFile: 'model.onnx', w1Batches: [chosen] });
  const w1Of = (r: any) => r?.w1?.find((p: any) => p.batch === chosen)?.tokensPerS ?? 0;
  const oneSession = report.raw[bucketKey];
  const twoBetter = w1Of(report.raw.fp16Pooled2) > 1.03 * w1Of(report.raw.fp16Pooled1) || w2Cost(report.raw.fp16Pooled2) < 0.97 * w2Cost(oneSession);
  const sessions = twoBetter ? 2 : 1;
  const ceiling = {
    w1: twoBetter ? report.raw.fp16Pooled2.w1 : report.raw.fp16Pooled1.w1,
    w2: (twoBetter ? report.raw.fp16Pooled2 : oneSession)?.w2,
  };
  return { ceiling, chosen, seqMultiple, batchMultiple, memPattern, shapeBuckets, sessions };
}

/** The server's own settings, as the raw runs of minimalRaw use them and --raw none takes them. */
const SERVER_DEFAULTS: Omit<RawChoice, 'ceiling'> = { chosen: 256, seqMultiple: 0, batchMultiple: 1, memPattern: 'on', shapeBuckets: 'on', sessions: 2 };

/** --sessions as the served phases run it (--server-flags may change it). */
const SERVED_SESSIONS = (() => {
  const i = SERVER_FLAGS.lastIndexOf('--sessions');
  return i >= 0 ? Number(SERVER_FLAGS[i + 1]) : SERVER_DEFAULTS.sessions;
})();
/** Texts per batch of the "same batches" W2 ceiling: around what 256 closed-loop clients give the batcher (32-55 measured). */
const SAME_BATCH_TEXTS = QUICK ? [8, 16] : [24, 32, 48, 64];

/**
 * Only the server's own settings (2 sessions, shape buckets): W2 as sorted batches (the ceiling)
 * and in arrival order; then W2 in arrival order in batches of a fixed number of texts, on the
 * served number of sessions: the served W2 is judged against the size nearest its own batches.
 */
async function minimalRaw(reference: string[], budgetW2: number): Promise<RawChoice> {
  const common = {
    shapeBuckets: SERVER_DEFAULTS.shapeBuckets,
    seqMultiple: SERVER_DEFAULTS.seqMultiple,
    w1Batches: [SERVER_DEFAULTS.chosen],
    w2BudgetTokens: budgetW2,
  };
  report.raw.fp16Pooled1 = await raw({ label: '1 session, shape buckets', ...common, latency: true, referenceTexts: reference });
  report.raw.fp16Pooled2 = await raw({ label: '2 sessions, shape buckets, W2 sorted by length', ...common, sessions: 2 });
  report.raw.arrival2 = await raw({ label: '2 sessions, shape buckets, W2 in arrival order', ...common, w1Batches: [], sessions: 2, w2Order: 'arrival' });
  report.sameBatches = [];
  for (const texts of SAME_BATCH_TEXTS) {
    const label = `${SERVED_SESSIONS} sessions, W2 in arrival order, ${texts} texts per batch`;
    const r = await raw({ label, ...common, w1Batches: [], sessions: SERVED_SESSIONS, w2Order: 'arrival', w2MaxBatch: texts });
    report.raw[`arrival${SERVED_SESSIONS}x${texts}`] = r;
    report.sameBatches.push({ texts, sessions: SERVED_SESSIONS, tokensPerS: r.w2?.tokensPerS ?? NaN });
  }
  return { ...SERVER_DEFAULTS, ceiling: { w1: report.raw.fp16Pooled2.w1, w2: report.raw.fp16Pooled2.w2 } };
}

async function main(): Promise<void> {
  log(`model ${MODEL} graph ${FP16} (${(statSync(join(MODEL, FP16)).size / 2 ** 20).toFixed(0)} MiB), device ${DEVICE}, ${CORES} cores`);
  report.cpuCosts = cpuCosts();
  log(
    'CPU costs (µs):',
    JSON.stringify(report.cpuCosts, (_, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v)),
  );

  const reference = torch.reference?.texts ?? [];
  const budget = (size: number) => size * 128;
  // W2's padded token budget per batch, raw and served alike (the server's --max-batch-tokens).
  const W2_BUDGET = QUICK ? 4096 : 32768;
  report.raw = {};
  const { ceiling, chosen, seqMultiple, batchMultiple, memPattern, shapeBuckets, sessions } =
    RAW === 'minimal'
      ? await minimalRaw(reference, W2_BUDGET)
      : RAW === 'none' || RAW === 'replay'
        ? { ...SERVER_DEFAULTS, ceiling: { w1: undefined, w2: undefined } }
        : await fullRaw(reference, W2_BUDGET);
  report.chosen = { batchTexts: chosen, maxBatchTokens: Math.max(budget(chosen), W2_BUDGET), sessions, seqMultiple, batchMultiple, memPattern, shapeBuckets };
  log('chosen server settings:', JSON.stringify(report.chosen));

  // Correctness of what the GPU returns against PyTorch fp32 (sentence-transformers).
  const refVecs: number[][] = torch.reference?.vectors ?? [];
  const got: number[][] = report.raw.fp16Pooled1?.referenceVectors ?? [];
  if (refVecs.length && got.length === refVecs.length) {
    const cos = refVecs.map((r, i) => r.reduce((s, x, d) => s + x * got[i][d], 0));
    report.correctness = { texts: cos.length, minCosine: Math.min(...cos), meanCosine: cos.reduce((a, b) => a + b, 0) / cos.length };
    log('correctness vs sentence-transformers fp32:', JSON.stringify(report.correctness));
  }
  if (report.raw.fp16Pooled1) delete report.raw.fp16Pooled1.referenceVectors;

  // Served
  const tokW1 = 32 * 128;
  const w1Bodies = writeBodies(
    'w1',
    Array.from({ length: texts.w1.length / 32 }, (_, i) => ({
      body: JSON.stringify({ inputs: texts.w1.slice(i * 32, i * 32 + 32), truncate: true }),
      tokens: tokW1,
    })),
  );
  const w2Bodies = writeBodies(
    'w2',
    texts.w2.map((t, i) => ({ body: JSON.stringify({ inputs: t, truncate: true }), tokens: texts.w2_tokens[i] })),
  );
  const w3Bodies = writeBodies('w3', [{ body: JSON.stringify({ inputs: texts.w3, truncate: true }), tokens: texts.w3.split(' ').length + 2 }]);
  const tokenizationWorkers = Math.max(2, Math.min(8, CORES - 8));
  const flags = [
    '--max-batch-tokens',
    String(Math.max(budget(chosen), W2_BUDGET)),
    '--max-batch-requests',
    String(Math.max(chosen, 512)),
    '--sessions',
    String(sessions),
    '--pad-seq-multiple',
    String(seqMultiple),
    '--pad-batch-multiple',
    String(batchMultiple),
    '--mem-pattern',
    memPattern,
    '--shape-buckets',
    shapeBuckets,
    '--tokenization-workers',
    String(tokenizationWorkers),
    '--max-concurrent-requests',
    '2048',
    // The replay (--raw minimal or replay) runs the served W2 batches again on the raw sessions: it needs their sizes.
    ...(REPLAY ? ['--log-batches'] : []),
    ...SERVER_FLAGS,
  ];
  report.serverFlags = flags;
  report.httpClient = HTTP_CLIENT;
  log('server flags:', flags.join(' '));
  const gpuIdleMiB = gpuUsedTotalMiB();
  const server = await startServer(flags);
  const info = (await (await fetch(server.url + '/info')).json()) as Record<string, any>;
  report.serverInfo = {
    device: info.device,
    execution_provider: info.execution_provider,
    sessions: info.sessions,
    batch_queue: info.batch_queue,
    pooling_in_graph: info.pooling_in_graph,
    output: info.output,
  };
  report.serverStartLog = server
    .log()
    .split('\n')
    .filter((l) => /model loaded|auto|pooling|cuda/i.test(l))
    .slice(0, 5);
  const gpuAtRest = gpuProcesses();
  report.gpuMemory = {
    modelFileMiB: statSync(join(MODEL, FP16)).size / 2 ** 20,
    serverProcessMiB: gpuAtRest?.find((g) => g.pid === server.pid)?.usedMiB ?? null,
    gpuUsedIdleMiB: gpuIdleMiB,
    gpuUsedWithServerMiB: gpuUsedTotalMiB(),
    rawOneSessionTotalMiB: report.raw.fp16Pooled1?.gpuUsedTotalMiB ?? null,
    rawTwoSessionsTotalMiB: report.raw.fp16Pooled2?.gpuUsedTotalMiB ?? null,
    rawOneSessionMiB: report.raw.fp16Pooled1?.gpuMemoryPeakMiB ?? null,
    rawTwoSessionsMiB: report.raw.fp16Pooled2?.gpuMemoryPeakMiB ?? null,
  };
  const dims = info.dimensions ?? 768;
  const shardsFor = (clients: number) => Math.max(1, Math.min(clients, LOADERS ?? (QUICK ? 2 : Math.min(8, Math.floor(CORES / 3)))));
  const phases: Phase[] = [
    { name: 'W1 json', bodiesFile: w1Bodies, clients: 64, shards: shardsFor(64), accept: 'json', textsPerRequest: 32 },
    { name: 'W1 binary', bodiesFile: w1Bodies, clients: 64, shards: shardsFor(64), accept: 'binary', textsPerRequest: 32 },
    { name: 'W2 json', bodiesFile: w2Bodies, clients: 256, shards: shardsFor(256), accept: 'json', textsPerRequest: 1 },
    { name: 'W2 binary', bodiesFile: w2Bodies, clients: 256, shards: shardsFor(256), accept: 'binary', textsPerRequest: 1 },
    { name: 'W3 json', bodiesFile: w3Bodies, clients: 1, shards: 1, accept: 'json', textsPerRequest: 1 },
  ];
  report.served = [];
  for (const phase of phases.filter((p) => !PHASES || PHASES.includes(p.name))) report.served.push(await runPhase(server, phase, dims));
  await server.stop();

  // The issue's "on the same batches", literally: W2's served batch sizes, in order, replayed on
  // as many raw sessions as served, with texts in arrival order.
  const w2Sizes: number[] = report.served.find((p: any) => p.name === 'W2 binary')?.batchSizes ?? [];
  if (REPLAY && w2Sizes.length > 0) {
    report.raw.replayedW2 = await raw({
      label: `${SERVED_SESSIONS} sessions, W2 in arrival order, the served batch sizes replayed (${w2Sizes.length} batches)`,
      shapeBuckets: SERVER_DEFAULTS.shapeBuckets,
      seqMultiple: SERVER_DEFAULTS.seqMultiple,
      w1Batches: [],
      sessions: SERVED_SESSIONS,
      w2BudgetTokens: W2_BUDGET,
      w2BatchSizes: w2Sizes,
      w2Passes: 2,
    });
  }

  // Forking servers load one copy per worker process; this one holds `sessions` copies in one process.
  const single =
    report.raw.fp16Pooled1?.gpuMemoryPeakMiB ??
    (report.raw.fp16Pooled1?.gpuUsedTotalMiB != null && gpuIdleMiB != null ? report.raw.fp16Pooled1.gpuUsedTotalMiB - gpuIdleMiB : null);
  report.gpuMemory.forkingServerEstimateMiB = single ? { 4: 4 * single, 8: 8 * single, 16: 16 * single } : null;
  summarize(ceiling);
}

function summarize(ceiling: any): void {
  const served = (name: string) => report.served.find((p: any) => p.name === name) ?? {};
  const rawW1 = ceiling?.w1?.find((p: any) => p.batch === report.chosen.batchTexts)?.tokensPerS ?? NaN;
  const rawW2 = ceiling?.w2?.tokensPerS ?? NaN;
  const st = (k: string) => torch[k]?.tokens_per_s ?? NaN;
  const rows: [string, string, string, string][] = [];
  const m = (x: number) => (Number.isFinite(x) ? (x / 1e6).toFixed(3) + ' M' : 'n/a');
  const r = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) + 'x' : 'n/a');
  const bestOf = (a: string, b: string) => (served(a).tokensPerS >= (served(b).tokensPerS ?? 0) ? served(a) : served(b));
  const w1 = bestOf('W1 json', 'W1 binary');
  const w2 = bestOf('W2 json', 'W2 binary');
  const w3 = served('W3 json');
  rows.push([
    'W1 tokens/s (HTTP)',
    '>= 2.0 M',
    `${m(served('W1 json').tokensPerS)} json, ${m(served('W1 binary').tokensPerS)} binary`,
    `${r(w1.tokensPerS, st('st_w1'))} of ST, ${r(w1.tokensPerS, rawW1)} of raw`,
  ]);
  rows.push([
    'W2 tokens/s (HTTP)',
    '>= 1.0 M',
    `${m(served('W2 json').tokensPerS)} json, ${m(served('W2 binary').tokensPerS)} binary`,
    `${r(w2.tokensPerS, st('st_w2'))} of ST, ${r(w2.tokensPerS, rawW2)} of raw`,
  ]);
  rows.push(['W3 p50 (HTTP)', '<= 3 ms', `${w3.p50Ms?.toFixed(2)} ms (p99 ${w3.p99Ms?.toFixed(2)})`, `ST ${torch.st_w3?.p50_ms?.toFixed(2) ?? 'n/a'} ms`]);
  rows.push(['served / raw ceiling', '>= 0.9', `W1 ${r(w1.tokensPerS, rawW1)}, W2 ${r(w2.tokensPerS, rawW2)}`, '']);
  // The issue's "on the same batches": raw W2 in batches of about the size the served W2 formed.
  const same: { texts: number; sessions: number; tokensPerS: number }[] = report.sameBatches ?? [];
  const servedBatch = w2.meanBatchSize ?? NaN;
  const nearest = same.reduce<(typeof same)[number] | null>(
    (best, p) => (!best || Math.abs(p.texts - servedBatch) < Math.abs(best.texts - servedBatch) ? p : best),
    null,
  );
  if (nearest) {
    rows.push([
      'served / raw, same batch size (W2)',
      '>= 0.9',
      r(w2.tokensPerS, nearest.tokensPerS),
      `served batches ${servedBatch.toFixed(1)} texts; raw ${m(nearest.tokensPerS)} at ${nearest.texts} texts, ${nearest.sessions} sessions (${same.map((p) => `${p.texts}: ${m(p.tokensPerS)}`).join(', ')})`,
    ]);
  }
  const replayed = report.raw.replayedW2?.w2?.tokensPerS ?? NaN;
  if (Number.isFinite(replayed)) {
    const w2b = served('W2 binary');
    const q = w2b.batchSizeQuantiles;
    rows.push([
      'served / raw, the same batches replayed (W2)',
      '>= 0.9',
      r(w2b.tokensPerS, replayed),
      `raw ${m(replayed)} on ${w2b.batchSizes.length} batches of the served sizes (p10/p50/p90 ${q ? `${q.p10}/${q.p50}/${q.p90}` : 'n/a'} texts), ${SERVED_SESSIONS} sessions`,
    ]);
  }
  rows.push(['raw ceiling W1 / W2', '', `${m(rawW1)} / ${m(rawW2)}`, `eager 256x128 ${m(torch.eager_256x128?.tokens_per_s)}`]);
  report.summary = rows;
  const md: string[] = [];
  md.push(`# GPU benchmark (${report.device}, ${torch.device ?? 'unknown GPU'}, ${report.cores} cores)`, '');
  md.push(`Model: BERT-base architecture (768/12/12), random seeded weights, real BERT vocabulary; graph ${report.graph}. ${report.started}.`, '');
  md.push(`Server flags: \`${(report.serverFlags ?? []).join(' ')}\`; load generator client: ${report.httpClient ?? 'node'}`, '');
  md.push('| what | target | measured | ratios |', '| --- | --- | --- | --- |', ...rows.map((x) => `| ${x.join(' | ')} |`), '');
  md.push(
    '## Served over HTTP (loopback, closed loop)',
    '',
    '| phase | clients | tok/s | req/s | p50 ms | p99 ms | server cores (main thread) | machine cores busy | server CPU µs/req | mean batch: texts, ms (in its session) | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const p of report.served) {
    md.push(
      `| ${p.name} | ${p.clients} | ${m(p.tokensPerS)} | ${p.requestsPerS.toFixed(0)} | ${p.p50Ms.toFixed(2)} | ${p.p99Ms.toFixed(2)} | ${p.serverCores.toFixed(2)} (${p.serverMainThreadCores.toFixed(2)}) | ${p.machineCores?.toFixed(1) ?? 'n/a'} of ${CORES} | ${p.serverCpuUsPerRequest.toFixed(0)} | ${p.meanBatchSize?.toFixed(1) ?? 'n/a'}, ${p.meanBatchMs?.toFixed(2) ?? 'n/a'} (${p.meanSessionMs?.toFixed(2) ?? 'n/a'}) | ${p.errors} |`,
    );
  }
  md.push(
    '',
    '## Raw sessions (pre-formed batches, no HTTP, no tokenization)',
    '',
    '| configuration | W1 points (texts/batch: M tok/s) | W2 M tok/s per pass (cold / warm / warm) | W3 p50 / p99 ms | GPU MiB |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const [k, v] of Object.entries<any>(report.raw)) {
    const pts = (v.w1 ?? []).map((p: any) => `${p.batch}: ${(p.tokensPerS / 1e6).toFixed(3)}`).join(', ');
    md.push(
      `| ${v.label ?? k}${v.error ? ' FAILED: ' + v.error.slice(0, 200) : ''} | ${pts} | ${v.w2 ? v.w2.passTokensPerS.map((x: number) => (x / 1e6).toFixed(3)).join(' / ') : ''} | ${v.w3 ? v.w3.p50Ms.toFixed(2) + ' / ' + v.w3.p99Ms.toFixed(2) : ''} | ${v.gpuMemoryPeakMiB ?? ''} |`,
    );
  }
  md.push(
    '',
    '## PyTorch anchors (same GPU, same texts)',
    '',
    '```',
    JSON.stringify(Object.fromEntries(Object.entries(torch).filter(([k]) => k !== 'reference')), null, 1),
    '```',
  );
  md.push('', '## CPU costs per item (µs, one core of this machine)', '', '```', JSON.stringify(report.cpuCosts, null, 1), '```');
  md.push('', '## GPU memory', '', '```', JSON.stringify(report.gpuMemory, null, 1), '```');
  md.push('', '## Correctness', '', '```', JSON.stringify(report.correctness ?? null), '```');
  writeFileSync(join(OUT, `${OUT_NAME}.json`), JSON.stringify(report, null, 1));
  writeFileSync(join(OUT, `${OUT_NAME}.md`), md.join('\n') + '\n');
  console.log(md.slice(0, 10 + report.served.length + 4).join('\n'));
}

main().catch((e) => {
  log('FAILED', (e as Error).stack);
  try {
    writeFileSync(join(OUT, `${OUT_NAME}.json`), JSON.stringify({ ...report, failure: (e as Error).stack }, null, 1));
  } catch {
    /* nothing more to save */
  }
  process.exit(1);
});
