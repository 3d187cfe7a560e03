/**
 * One closed-loop load phase against a running server, shared by gpu-bench (text) and image-load
 * (images): the clients spread over several loader processes (loader.ts) so the client side never
 * limits the server, one measured window after a warm-up, and what the server did meanwhile (its
 * CPU and its threads, its /metrics, the per-request timing headers it sent).
 */
import { cpuShares, cpuSnapshot, threadCores, threadTicks, type CpuShares, type CpuSnapshot } from '../cpu-usage.js';
import { runChild } from './child.js';
import { percentile } from '../load.js';
import type { LoaderTask } from './loader.js';

export interface LoadPhaseOptions {
  url: string;
  /** Route (default /embed). */
  path?: string;
  /** JSON file of { body, tokens } the loaders send round-robin. */
  bodiesFile: string;
  clients: number;
  loaders: number;
  accept: 'json' | 'binary';
  textsPerRequest: number;
  /** Width of the vectors, to check the first answers. */
  dimensions: number;
  /** Response headers averaged over the counted requests. */
  sumHeaders: string[];
  warmupS: number;
  seconds: number;
  /** The server process: its CPU and threads are sampled at the window's ends. */
  pid: number;
  /** The loaders' HTTP client (loader.ts); node:http unless given. */
  client?: LoaderTask['client'];
  /** Called halfway through the window (e.g. to look at the GPU's processes). */
  atMiddle?: () => void;
}

export interface LoadPhaseResult {
  /** The counted window (epoch ms): answers that arrived in it count. */
  window: { start: number; end: number };
  loaders: number;
  /** Client latency of the counted requests (ms). */
  latencyMs: { p50: number; p90: number; p99: number; mean: number };
  requests: number;
  tokens: number;
  errors: number;
  firstError: string | null;
  /** Mean of each of sumHeaders over the counted requests. */
  headerMeans: Record<string, number>;
  /** The server's cores (and its main thread's), the machine's others, over the window; null if not sampled. */
  cpu: CpuShares | null;
  /** Threads of the server using at least 0.05 core, busiest first. */
  threads: { tid: number; name: string; cores: number }[] | null;
  /** Differences of the server's /metrics sums and counts over the window (see metricSums). */
  metrics: Record<string, number>;
}

/** The sums and counts of the server's batch and duration histograms (/metrics). */
export async function metricSums(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(url + '/metrics')).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    /^(te_batch_next_size|te_request_duration|te_request_tokenization_duration|te_request_inference_duration|te_request_queue_duration|te_batch_inference_duration|coalesce_batch_session_duration)_(sum|count)\s+([\d.e+-]+)/gm,
  )) {
    out[`${m[1]}_${m[2]}`] = Number(m[3]);
  }
  return out;
}

/** Mean of one histogram over the window, from runLoadPhase's `metrics`; null when nothing was observed. */
export function histogramMean(metrics: Record<string, number>, name: string): number | null {
  const count = metrics[`${name}_count`] ?? 0;
  return count > 0 ? (metrics[`${name}_sum`] ?? 0) / count : null;
}

export async function runLoadPhase(o: LoadPhaseOptions): Promise<LoadPhaseResult> {
  const windowStart = Date.now() + o.warmupS * 1000 + 500;
  const windowEnd = windowStart + o.seconds * 1000;
  const per = Math.ceil(o.clients / o.loaders);
  const tasks: LoaderTask[] = Array.from({ length: o.loaders }, (_, shard) => ({
    url: o.url,
    path: o.path,
    bodiesFile: o.bodiesFile,
    shard,
    shards: o.loaders,
    clients: Math.max(0, Math.min(per, o.clients - shard * per)),
    accept: o.accept,
    windowStart,
    windowEnd,
    textsPerRequest: o.textsPerRequest,
    dimensions: o.dimensions,
    sumHeaders: o.sumHeaders,
    client: o.client ?? 'node',
  })).filter((t) => t.clients > 0);
  type Sample = { cpu: CpuSnapshot; threads: ReturnType<typeof threadTicks>; metrics: Record<string, number> };
  const samples: Sample[] = [];
  const sample = async () => {
    const cpu = cpuSnapshot([o.pid]);
    const threads = threadTicks(o.pid);
    samples.push({ cpu, threads, metrics: await metricSums(o.url) });
  };
  const timers = [
    setTimeout(sample, windowStart - Date.now()),
    setTimeout(() => o.atMiddle?.(), windowStart - Date.now() + (o.seconds * 1000) / 2),
    setTimeout(sample, windowEnd - Date.now()),
  ];
  const results = await Promise.all(tasks.map((t) => runChild('loader.js', t, (o.warmupS + o.seconds + 120) * 1000)));
  timers.forEach(clearTimeout);
  const requests = results.reduce((n, r) => n + (r.requests ?? 0), 0);
  const latencies: number[] = results.flatMap((r) => r.latencies ?? []).sort((a: number, b: number) => a - b);
  const failure = results.find((r) => r.error || r.firstError);
  const [s0, s1] = samples;
  const metrics: Record<string, number> = {};
  if (s0 && s1) for (const k of Object.keys(s1.metrics)) metrics[k] = s1.metrics[k] - (s0.metrics[k] ?? 0);
  return {
    window: { start: windowStart, end: windowEnd },
    loaders: tasks.length,
    latencyMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    },
    requests,
    tokens: results.reduce((n, r) => n + (r.tokens ?? 0), 0),
    errors: results.reduce((n, r) => n + (r.errors ?? 0), 0),
    firstError: failure ? (failure.error ?? failure.firstError) : null,
    headerMeans: Object.fromEntries(o.sumHeaders.map((h) => [h, results.reduce((a, r) => a + (r.headerSums?.[h] ?? 0), 0) / Math.max(1, requests)])),
    cpu: s0 && s1 ? cpuShares(s0.cpu, s1.cpu, { server: o.pid }) : null,
    threads: s0 && s1 ? threadCores(s0.threads, s1.threads, (s1.cpu.at - s0.cpu.at) / 1000).filter((t) => t.cores >= 0.05) : null,
    metrics,
  };
}
