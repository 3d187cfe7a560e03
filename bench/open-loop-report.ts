/** Result shape of bench/open-loop.ts and its markdown. */
import type { ThreadName } from '../src/workers/start-workers.js';
import type { RunMeta } from './run-meta.js';

export interface StepResult {
  offeredRate: number;
  generators: number;
  /** Requests whose arrival fell in the measured window. */
  scheduled: number;
  /** Answers that ended inside the window, per second; and their tokens (x-compute-tokens). */
  achievedRate: number;
  tokensPerS: number;
  /** From each request's scheduled arrival to the end of its answer. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Window requests that failed or were still unanswered 10 s after the window. */
  errors: number;
  firstError: string | null;
  /** te_batch_next_size sum / count over the window. */
  meanBatchSize: number | null;
  /** Bucket bounds (te_batch_next_size's le) holding the 10th, 50th and 90th percentile batch size of the window. */
  batchSizeBounds?: [number | null, number | null, number | null] | null;
  /** The inputs' own tokens / the tokens the model ran (padding included) over the window. */
  paddingEfficiency?: number | null;
  batches: number;
  /** te_batch_inference_duration seconds / wall seconds: model calls as the main thread times them. */
  busyShare: number;
  /** coalesce_batch_session_duration seconds / wall seconds: summed over sessions (up to their number). */
  sessionBusyShare: number;
  generatorLatenessMs: { p50: number; p99: number; max: number };
  generatorLimited: boolean;
  /** CPU cores the generator processes used together. */
  generatorCores: number;
  maxInFlight: number;
  /** nvidia-smi utilization.gpu over the window (share of time some kernel ran); null without a GPU. */
  gpuBusyShare?: number | null;
  /** CPU cores the server process used over the window, of which its main thread; and the whole machine (generators included). */
  serverCores?: number;
  serverMainThreadCores?: number;
  /** The server's cores summed by thread name (MainThread, http, text-session with its ONNX Runtime threads, tokenizer, ...). */
  serverThreadCores?: Record<string, number>;
  busiestThread?: { name: string; cores: number } | null;
  machineCores?: number;
}

export interface OpenLoopReport extends RunMeta {
  model: string;
  device: string;
  serverArgs: string[];
  /** The machine's CPU cores (os.cpus()). */
  cores?: number;
  texts: string;
  accept: string;
  stepSeconds: number;
  warmupSeconds: number;
  p99BudgetMs: number;
  latenessLimitMs: number;
  steps: StepResult[];
  /** The highest offered rate with no errors and p99 within the budget. */
  best: StepResult | null;
  /** The same among steps whose generator kept to its schedule (not generator-limited). */
  bestUnlimited?: StepResult | null;
  error: string | null;
  /** An in-process anchor on the same device and texts (--anchor), set against the best step's tokens/s. */
  anchor?: { name: string; device: string; tokensPerS: number } | null;
}

const f = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '–');

/** Main, HTTP, session and tokenizer threads' cores; reports from before threads had names give the main thread's only. */
function serverThreads(s: StepResult): string {
  const t = s.serverThreadCores;
  if (!t) return f(s.serverMainThreadCores, 2);
  // The server's names (src/workers/start-workers.ts): a renamed thread kind fails to compile here.
  const kinds = ['MainThread', ...(['http', 'text-session', 'tokenizer'] as const satisfies readonly ThreadName[])];
  return kinds.map((k) => f(t[k] ?? 0, 2)).join(' / ');
}

export function openLoopMarkdown(r: OpenLoopReport): string {
  const rows = [...r.steps]
    .sort((a, b) => a.offeredRate - b.offeredRate)
    .map(
      (s) =>
        `| ${f(s.offeredRate)} | ${f(s.achievedRate)} | ${f(s.tokensPerS)} | ${f(s.latencyMs.p50, 1)} | ${f(s.latencyMs.p99, 1)} | ` +
        `${s.errors}${s.firstError ? ` (${s.firstError.slice(0, 60).replaceAll('|', '/')})` : ''} | ${f(s.meanBatchSize, 1)} | ${s.batchSizeBounds ? s.batchSizeBounds.map((b) => (b === null ? '–' : `≤${b}`)).join(' / ') : '–'} | ${s.paddingEfficiency == null ? '–' : pct(s.paddingEfficiency)} | ${pct(s.busyShare)} | ${pct(s.sessionBusyShare)} | ${s.gpuBusyShare == null ? '–' : pct(s.gpuBusyShare)} | ` +
        `${f(s.serverCores, 2)} (${serverThreads(s)}) | ${s.busiestThread ? `${s.busiestThread.name} ${f(s.busiestThread.cores, 2)}` : '–'} | ${f(s.machineCores, 1)} of ${r.cores ?? '–'} | ` +
        `${f(s.generatorLatenessMs.p99, 2)}${s.generatorLimited ? ' **generator-limited**' : ''} | ${s.generators} (${f(s.generatorCores, 2)} cores) | ${s.maxInFlight} |`,
    );
  const best = r.best
    ? `**Highest rate with p99 <= ${r.p99BudgetMs} ms and no errors: ${f(r.best.offeredRate)} requests/s, ${f(r.best.tokensPerS)} tokens/s** ` +
      `(p50 ${f(r.best.latencyMs.p50, 1)} ms, p99 ${f(r.best.latencyMs.p99, 1)} ms, mean batch ${f(r.best.meanBatchSize, 1)}` +
      `${r.best.generatorLimited ? '; that step was generator-limited' : ''}).`
    : `**No step kept p99 <= ${r.p99BudgetMs} ms without errors.**`;
  const clean = r.bestUnlimited;
  const unlimited =
    r.best?.generatorLimited && clean
      ? ` Highest such rate whose generator kept to its schedule: ${f(clean.offeredRate)} requests/s, ${f(clean.tokensPerS)} tokens/s (p99 ${f(clean.latencyMs.p99, 1)} ms).`
      : '';
  const anchor =
    r.anchor && r.best
      ? ` Against ${r.anchor.name}${r.anchor.device ? ` on ${r.anchor.device}` : ''}, ${f(r.anchor.tokensPerS)} tokens/s: **${(r.best.tokensPerS / r.anchor.tokensPerS).toFixed(2)}x**.`
      : '';
  return [
    `# Open-loop capacity (${r.device})`,
    '',
    `${r.date}, commit ${r.commit}, ${r.machine}, load average at start ${r.loadAverageAtStart.join(' ')}.${r.note ? ` ${r.note}` : ''}`,
    `Model \`${r.model}\`; server args \`${r.serverArgs.join(' ')}\`; texts: ${r.texts}; one text per request (truncate: true), POST /embed, Accept ${r.accept}; ` +
      `${r.stepSeconds} s measured per step after ${r.warmupSeconds} s at the same rate.`,
    '',
    best + unlimited + anchor,
    ...(r.error ? ['', `The run stopped early: ${r.error.slice(0, 500)}`] : []),
    '',
    '| offered req/s | achieved req/s | tokens/s | p50 ms | p99 ms | errors | mean batch | batch p10 / p50 / p90 | tokens not padding | busy (inference) | busy (sessions) | GPU busy (nvidia-smi) | server cores (main / http / sessions / tokenizers) | busiest server thread (cores) | machine cores busy | generator lateness p99 ms | generators | max in flight |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    'Arrivals are a Poisson process at the offered rate (exponential gaps, scheduled at absolute times, split over the generator processes); ' +
      "latency runs from each request's scheduled arrival to the end of its answer, so a late generator can only make it look worse. " +
      '"achieved" counts answers that ended inside the window. "mean batch" is te_batch_next_size sum / count over the window; ' +
      '"batch p10 / p50 / p90" are the histogram buckets (powers of two) that hold those percentiles of the window\'s batch sizes. ' +
      '"tokens not padding" is coalesce_batch_tokens_total / coalesce_batch_padded_tokens_total over the window: the inputs\' own tokens against ' +
      'batch size x longest input (a graph that removes padding counts its own tokens only, 100%; shape buckets pad further, which this leaves out). ' +
      '"busy (inference)" is the te_batch_inference_duration seconds over the window / its wall time: the share of time a model call was ' +
      'in progress as the main thread times it, from handing the batch to a session thread to reading its answer (thread hand-offs and ' +
      'waits for the main event loop included; calls in flight on several sessions at once add up, so it can pass 100%). ' +
      '"busy (sessions)" is the coalesce_batch_session_duration seconds / wall time: the session threads\' own time in runs, summed over ' +
      "sessions (at most their number). On the GPU a session's run time is the device's work plus copies and launch overhead, so this " +
      'is the GPU busy share as far as the server can see it; on the CPU it is the share of time ONNX Runtime was computing. ' +
      '"server cores" is the CPU time of the server process (all its threads) over the window / its wall time; in brackets the threads by ' +
      'name: the main thread, the HTTP threads, the session threads (with the ONNX Runtime threads they start, which take their name) and ' +
      'the tokenizer workers. "busiest server thread" is the one thread that used the most: one near 1 core is a limit more threads elsewhere cannot lift. ' +
      '"machine cores busy" counts every process on the machine, the generators included. ' +
      '"GPU busy" is the mean of nvidia-smi utilization.gpu samples (every 250 ms) in the window: the share of time some kernel ran. ' +
      `"generator lateness" is how long after its scheduled time a request was written to its socket; a step with p99 above ${r.latenessLimitMs} ms is marked generator-limited.`,
    '',
  ].join('\n');
}
