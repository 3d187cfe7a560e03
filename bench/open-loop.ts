/**
 * Capacity under open-loop arrivals: requests of one mixed-length text each arrive as a Poisson
 * process at a fixed rate, independent of the answers (a closed loop's throughput is set by its
 * clients / latency instead). The rate steps up a geometric ladder until p99 latency passes the
 * budget or requests fail, then is refined between the last good and the first bad rate. The
 * answer: the highest rate whose p99 stayed within the budget, and its tokens/s.
 *
 * The load generator runs in separate processes (open-loop-generator.ts) and measures its own
 * lateness; a step whose lateness p99 passes 1 ms is marked generator-limited.
 *
 *   node dist/bench/open-loop.js [--model models/default] [--device cpu] [--onnx-file f.onnx]
 *     [--start-rate 20 (cuda: 500)] [--max-rate 200000] [--factor 1.5] [--refine 2] [--step-seconds 5]
 *     [--warmup-seconds 1] [--p99-ms 50] [--max-steps 16] [--generators N | --rate-per-generator 4000]
 *     [--spin-ms 2] [--accept binary|json] [--intra-op-threads 0] [--texts file.json]
 *     [--out bench/results] [--commit abc123] [--note "..."] [--anchor torch.json] [-- <server args>]
 *
 * --anchor: bench/gpu/torch_bench.py's output from the same GPU and texts; the report sets the
 * highest good rate's tokens/s against its eager_w2 (PyTorch eager in-process, sorted batches of 256).
 *
 * Texts: the model folder's texts.json `w2` (scripts/device/make_bert_base.py, the GPU bench's W2)
 * when there is one, else bench/texts.ts sentences. Writes <out>/open-loop-<cpu|gpu>.{json,md},
 * rewritten after every step so a run cut short keeps what it measured.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { flagValue } from './args.js';
import { runGeneratorShards } from './generator-shards.js';
import { percentile } from './load.js';
import { openLoopMarkdown, type OpenLoopReport, type StepResult } from './open-loop-report.js';
import { ownArgs, passThroughArgs, runMeta } from './run-meta.js';
import { histogramQuantileBound, scrape, type Scrape } from './server-stats.js';
import { startServer, type ServerProcess } from './server-process.js';
import { rng, sentence } from './texts.js';
import { sampleGpuUtilization, type GpuUtilization } from './gpu-utilization.js';
import { cpuShares, cpuSnapshot, threadGroups, threadTicks } from './cpu-usage.js';

const argv = ownArgs();
const flag = (name: string, fallback: string) => flagValue(name, fallback, argv);
const MODEL = flag('model', 'models/default');
const DEVICE = flag('device', 'cpu');
const ONNX_FILE = flagValue('onnx-file', null, argv);
const START_RATE = Number(flag('start-rate', DEVICE.startsWith('cuda') ? '500' : '20'));
const MAX_RATE = Number(flag('max-rate', '200000'));
const FACTOR = Number(flag('factor', '1.5'));
const REFINE = Number(flag('refine', '2'));
const STEP_S = Number(flag('step-seconds', '5'));
const WARMUP_S = Number(flag('warmup-seconds', '1'));
const P99_BUDGET_MS = Number(flag('p99-ms', '50'));
const MAX_STEPS = Number(flag('max-steps', '16'));
const GENERATORS = flagValue('generators', null, argv);
const RATE_PER_GENERATOR = Number(flag('rate-per-generator', '4000'));
const ACCEPT = flag('accept', 'binary') as 'json' | 'binary';
const SPIN_MS = Number(flag('spin-ms', '2'));
const INTRA_OP = Number(flag('intra-op-threads', '0'));
const OUT = flag('out', 'bench/results');
const LATE_LIMIT_MS = 1;
const SERVER_ARGS = ['--device', DEVICE, ...(ONNX_FILE ? ['--onnx-file', ONNX_FILE] : []), ...passThroughArgs()];
const label = DEVICE.startsWith('cuda') ? 'gpu' : 'cpu';
const ANCHOR = flagValue('anchor', null, argv);
/** On a GPU, nvidia-smi's busy share for each step's window (the GPU the server uses: --device cuda:N, else 0). */
const gpuBusy: GpuUtilization | null = label === 'gpu' ? sampleGpuUtilization(Number(/^cuda:(\d+)/.exec(DEVICE)?.[1] ?? 0)) : null;

function loadAnchor(): OpenLoopReport['anchor'] {
  if (!ANCHOR) return null;
  const json = JSON.parse(readFileSync(ANCHOR, 'utf8')) as { device?: string; eager_w2?: { tokens_per_s?: number } };
  const tokensPerS = json.eager_w2?.tokens_per_s;
  if (!tokensPerS) throw new Error(`${ANCHOR}: no eager_w2.tokens_per_s`);
  return { name: 'PyTorch eager in-process, W2 texts sorted into batches of 256 (bench/gpu/torch_bench.py eager_w2)', device: json.device ?? '', tokensPerS };
}

function loadTexts(): { texts: string[]; source: string } {
  const file = flagValue('texts', null, argv) ?? (existsSync(join(MODEL, 'texts.json')) ? join(MODEL, 'texts.json') : null);
  if (file) {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { w2?: string[] } | string[];
    const texts = Array.isArray(json) ? json : json.w2;
    if (!texts?.length) throw new Error(`${file}: no texts (expected an array or { w2: [...] })`);
    return { texts, source: `${file} (${Array.isArray(json) ? 'array' : 'w2'}, ${texts.length} texts)` };
  }
  const r = rng(20240611);
  const texts = Array.from({ length: 4096 }, () => sentence(r));
  return { texts, source: `bench/texts.ts sentences (seed 20240611, ${texts.length} texts)` };
}

/** Shards for a rate: --rate-per-generator requests/s per process, at most half the cores (the server needs the rest). */
function generatorsFor(rate: number): number {
  if (GENERATORS) return Math.max(1, Number(GENERATORS));
  return Math.max(1, Math.min(Math.ceil(rate / RATE_PER_GENERATOR), Math.floor(cpus().length / 2)));
}

async function step(server: ServerProcess, bodiesFile: string, rate: number, index: number): Promise<StepResult> {
  const shards = generatorsFor(rate);
  // The children need a moment to start and read the bodies before the first arrival.
  const startAt = Date.now() + 1500;
  const windowStart = startAt + WARMUP_S * 1000;
  const windowEnd = windowStart + STEP_S * 1000;
  const drainMs = 10_000;
  // Scrapes at the window's ends; awaited after the generators, which may finish right at windowEnd.
  const pid = server.child.pid ?? -1;
  const scrapeAt = (when: number) =>
    sleep(Math.max(0, when - Date.now())).then(async () => ({
      cpu: cpuSnapshot([pid]),
      threads: threadTicks(pid),
      metrics: await scrape(server.httpUrl).catch((): Scrape | null => null),
    }));
  const scraping = Promise.all([scrapeAt(windowStart), scrapeAt(windowEnd)]);
  const { ok, failed, latencies, lateness } = await runGeneratorShards(
    { url: server.httpUrl, bodiesFile, startAt, windowStart, windowEnd, drainMs, accept: ACCEPT, spinMs: SPIN_MS, seed: 1000 + index },
    rate,
    shards,
    (WARMUP_S + STEP_S) * 1000 + drainMs + 60_000,
  );
  const [w0, w1] = await scraping;
  const cpu = cpuShares(w0.cpu, w1.cpu, { server: pid });
  const threads = threadGroups(w0.threads, w1.threads, (w1.cpu.at - w0.cpu.at) / 1000);
  const scheduled = ok.reduce((n, r) => n + r.scheduled, 0);
  const errors = ok.reduce((n, r) => n + r.errors, 0) + (failed ? 1 : 0);
  const [s0, s1] = [w0.metrics, w1.metrics];
  const d = (name: string) => (s0 && s1 ? (s1.values.get(name) ?? 0) - (s0.values.get(name) ?? 0) : NaN);
  const wallS = s0 && s1 ? (s1.at - s0.at) / 1000 : NaN;
  const batches = d('te_batch_next_size_count');
  const latenessP99 = percentile(lateness, 99);
  return {
    offeredRate: rate,
    generators: shards,
    scheduled,
    achievedRate: ok.reduce((n, r) => n + r.completedInWindow, 0) / STEP_S,
    tokensPerS: ok.reduce((n, r) => n + r.tokensInWindow, 0) / STEP_S,
    latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN },
    errors,
    firstError: failed?.error ?? ok.find((r) => r.firstError)?.firstError ?? null,
    meanBatchSize: batches > 0 ? d('te_batch_next_size_sum') / batches : null,
    batchSizeBounds: s0 && s1 ? ([0.1, 0.5, 0.9].map((q) => histogramQuantileBound(s0, s1, 'te_batch_next_size', q)) as StepResult['batchSizeBounds']) : null,
    paddingEfficiency: d('coalesce_batch_padded_tokens_total') > 0 ? d('coalesce_batch_tokens_total') / d('coalesce_batch_padded_tokens_total') : null,
    batches,
    busyShare: d('te_batch_inference_duration_sum') / wallS,
    sessionBusyShare: d('coalesce_batch_session_duration_sum') / wallS,
    generatorLatenessMs: { p50: percentile(lateness, 50), p99: latenessP99, max: lateness.at(-1) ?? NaN },
    generatorLimited: !(latenessP99 <= LATE_LIMIT_MS),
    generatorCores: ok.reduce((n, r) => n + r.cpuMs / r.wallMs, 0),
    gpuBusyShare: gpuBusy?.mean([windowStart, windowEnd]) ?? null,
    serverCores: cpu.cores.server,
    serverMainThreadCores: cpu.mainThreadCores.server,
    serverThreadCores: threads.byName,
    busiestThread: threads.busiest,
    machineCores: cpu.cores.server + cpu.othersCores,
    maxInFlight: ok.reduce((n, r) => n + r.maxInFlight, 0),
  };
}

const good = (s: StepResult) => s.errors === 0 && s.latencyMs.p99 <= P99_BUDGET_MS;

async function main(): Promise<void> {
  const meta = runMeta(argv);
  mkdirSync(OUT, { recursive: true });
  const base = join(OUT, `open-loop-${label}`);
  const report: OpenLoopReport = {
    ...meta,
    model: MODEL,
    device: DEVICE,
    serverArgs: SERVER_ARGS,
    cores: cpus().length,
    texts: '',
    accept: ACCEPT,
    stepSeconds: STEP_S,
    warmupSeconds: WARMUP_S,
    p99BudgetMs: P99_BUDGET_MS,
    latenessLimitMs: LATE_LIMIT_MS,
    steps: [],
    best: null,
    error: null,
    anchor: loadAnchor(),
  };
  const save = () => {
    const goodSteps = report.steps.filter(good);
    const highest = (steps: StepResult[]) => (steps.length ? steps.reduce((a, b) => (b.offeredRate > a.offeredRate ? b : a)) : null);
    report.best = highest(goodSteps);
    report.bestUnlimited = highest(goodSteps.filter((s) => !s.generatorLimited));
    writeFileSync(base + '.json', JSON.stringify(report, null, 2) + '\n');
    writeFileSync(base + '.md', openLoopMarkdown(report));
  };
  let server: ServerProcess | null = null;
  // A time limit (timeout(1)) ends the run: keep what was measured and take the server down with it.
  process.once('SIGTERM', () => {
    report.error ??= 'stopped by SIGTERM (time limit)';
    save();
    server?.child.kill('SIGKILL');
    gpuBusy?.stop();
    process.exit(124);
  });
  try {
    const { texts, source } = loadTexts();
    report.texts = source;
    const dir = mkdtempSync(join(tmpdir(), 'coalesce-open-loop-'));
    const bodiesFile = join(dir, 'bodies.json');
    writeFileSync(bodiesFile, JSON.stringify(texts.map((t) => JSON.stringify({ inputs: t, truncate: true }))));
    server = await startServer({ model: MODEL, intraOpThreads: INTRA_OP, extraArgs: SERVER_ARGS, startTimeoutS: 600 });
    console.log(`server up at ${server.httpUrl}; texts: ${source}`);
    console.log('offered/s  achieved/s  tokens/s  p50 ms  p99 ms  errors  batch  busy  late p99 ms  generators  busiest thread');
    const run = async (rate: number) => {
      const s = await step(server!, bodiesFile, rate, report.steps.length);
      report.steps.push(s);
      save();
      console.log(
        [s.offeredRate.toFixed(0), s.achievedRate.toFixed(0), s.tokensPerS.toFixed(0), s.latencyMs.p50.toFixed(1), s.latencyMs.p99.toFixed(1), s.errors]
          .concat([
            s.meanBatchSize?.toFixed(1) ?? '-',
            `${Math.round(s.busyShare * 100)}%`,
            s.generatorLatenessMs.p99.toFixed(2) + (s.generatorLimited ? ' (limited)' : ''),
            s.generators,
            s.busiestThread ? `${s.busiestThread.name} ${s.busiestThread.cores.toFixed(2)}` : '-',
          ])
          .join('  '),
      );
      // Let the queue empty before the next rate.
      await sleep(1000);
      return s;
    };
    let lastGood: number | null = null;
    let firstBad: number | null = null;
    for (let rate = START_RATE; rate <= MAX_RATE && report.steps.length < MAX_STEPS; rate *= FACTOR) {
      const s = await run(rate);
      if (!good(s)) {
        firstBad = rate;
        break;
      }
      lastGood = rate;
    }
    for (let i = 0; i < REFINE && lastGood !== null && firstBad !== null && report.steps.length < MAX_STEPS; i++) {
      const mid = Math.sqrt(lastGood * firstBad);
      if (good(await run(mid))) lastGood = mid;
      else firstBad = mid;
    }
  } catch (e) {
    report.error = (e as Error).message.slice(0, 4000);
    console.error(`open-loop: ${report.error}`);
    process.exitCode = 1;
  } finally {
    save();
    await server?.stop();
    gpuBusy?.stop();
  }
  console.log(`wrote ${base}.json and ${base}.md`);
  if (report.best)
    console.log(`highest rate with p99 <= ${P99_BUDGET_MS} ms: ${report.best.offeredRate.toFixed(0)}/s, ${report.best.tokensPerS.toFixed(0)} tokens/s`);
}

void main();
