/**
 * Closed-loop load generator: `concurrency` clients, each sending its next request as soon as the
 * previous one answered, all walking one shared cursor over the workload (so every phase sends the
 * same texts in the same order). Only requests that complete inside the measuring window count;
 * a warm-up before it lets batches and caches reach their steady state.
 */
import type { CpuShares } from './cpu-usage.js';
import type { Driver } from './drivers/types.js';

export interface LoadOptions {
  concurrency: number;
  warmupS: number;
  durationS: number;
}

export interface LoadResult {
  concurrency: number;
  durationS: number;
  requests: number;
  texts: number;
  tokens: number;
  errors: number;
  firstError: string | null;
  textsPerS: number;
  tokensPerS: number;
  requestsPerS: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  /** The measuring window on the monotonic clock in µs (the clock of V8 CPU profiles). */
  windowUs: [number, number];
  /** Cores used during the phase (warm-up included), per process and by the rest of the machine. */
  cpu?: CpuShares;
}

export interface LoadWorkload {
  requests: string[][];
  /** Tokens per request (special tokens included), for tokens/s. */
  tokens: number[];
}

const MAX_WINDOW_MS = 20_000;

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export async function runLoad(driver: Driver, workload: LoadWorkload, options: LoadOptions): Promise<LoadResult> {
  const { concurrency, warmupS, durationS } = options;
  const warmupUntil = performance.now() + warmupS * 1000;
  // The window opens once the warm-up time is over and every client has had an answer, so a
  // slow model's first (queue-filling) round never counts, whatever its latency.
  let measureFrom = Infinity;
  let measureTo = Infinity;
  let windowUs: [number, number] = [0, 0];
  let answered = 0;
  // Slow models get a longer window: at least three slow (p90) warm-up latencies, so every
  // client completes a few requests inside it (capped, so a starved machine cannot stall the run).
  const warmLatencies: number[] = [];
  let windowMs = durationS * 1000;
  const openWindowIfReady = () => {
    const now = performance.now();
    if (measureFrom === Infinity && answered >= concurrency && now >= warmupUntil) {
      const typical = Float64Array.from(warmLatencies).sort();
      windowMs = Math.max(durationS * 1000, Math.min(3 * percentile(typical, 90), MAX_WINDOW_MS));
      measureFrom = now;
      measureTo = now + windowMs;
      const mono = Number(process.hrtime.bigint() / 1000n);
      windowUs = [mono, mono + windowMs * 1000];
    }
  };
  const ticker = setInterval(openWindowIfReady, 20);
  // A hung request must not hang the benchmark.
  const giveUpAt = warmupUntil + 120_000 + MAX_WINDOW_MS;
  let cursor = 0;
  const latencies: number[] = [];
  let texts = 0;
  let tokens = 0;
  let errors = 0;
  let firstError: string | null = null;

  const client = async () => {
    let first = true;
    while (performance.now() < Math.min(measureTo, giveUpAt)) {
      const i = cursor++ % workload.requests.length;
      const request = workload.requests[i];
      const start = performance.now();
      try {
        await driver.embed(request);
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        // A server that fails every request must not turn into a busy loop.
        if (errors > 1000 && latencies.length === 0) throw new Error(`every request fails: ${firstError}`);
        continue;
      }
      const end = performance.now();
      if (measureFrom === Infinity) warmLatencies.push(end - start);
      if (first) {
        first = false;
        answered++;
        openWindowIfReady();
      }
      // Completions inside the window count: the throughput of the steady state.
      if (end >= measureFrom && end <= measureTo) {
        latencies.push(end - start);
        texts += request.length;
        tokens += workload.tokens[i];
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    clearInterval(ticker);
  }
  if (measureFrom === Infinity) throw new Error(`the load never reached a steady state (${errors} errors; ${firstError ?? 'no error'})`);

  const sorted = Float64Array.from(latencies).sort();
  const sum = latencies.reduce((a, b) => a + b, 0);
  const windowS = windowMs / 1000;
  return {
    concurrency,
    durationS: windowS,
    requests: latencies.length,
    texts,
    tokens,
    errors,
    firstError,
    textsPerS: texts / windowS,
    tokensPerS: tokens / windowS,
    requestsPerS: latencies.length / windowS,
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      mean: latencies.length ? sum / latencies.length : NaN,
      max: sorted.length ? sorted[sorted.length - 1] : NaN,
    },
    windowUs,
  };
}
