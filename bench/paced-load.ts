/**
 * Open-loop load on one or several models of one server at once: each model gets its own
 * Poisson arrivals at a fixed rate (one text per request, POST /models/<name>/embed) from
 * open-loop-generator.ts processes, which measure their own lateness, all on one shared window.
 * A model's arrivals do not slow down when the other model's load slows the server, unlike a
 * closed loop's clients, so together-vs-alone compares the same offered load.
 */
import { cpus } from 'node:os';
import { runGeneratorShards } from './generator-shards.js';
import { percentile } from './load.js';
import { nowMs } from './model-time.js';

/** Lateness p99 above this (ms): the generator, not the server, may have set the pace. */
export const LATE_LIMIT_MS = 1;

export interface PacedOptions {
  /** JSON file of request bodies (strings), as open-loop-generator.ts reads them. */
  bodiesFile: string;
  warmupS: number;
  durationS: number;
  /** Requests per second one generator process is given at most (more shards above it). */
  ratePerGenerator: number;
}

export interface PacedResult {
  model: string;
  offeredRate: number;
  generators: number;
  /** Requests whose arrival fell in the window. */
  scheduled: number;
  /** Answers that ended inside the window, per second (one text each). */
  achievedRate: number;
  /** From each request's scheduled arrival to the end of its answer. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Window requests that failed or were still unanswered 10 s after the window. */
  errors: number;
  firstError: string | null;
  /** How long after its scheduled time each request was written to its socket. */
  generatorLatenessMs: { p50: number; p99: number; max: number };
  generatorLimited: boolean;
  /** CPU cores the model's generator processes used together. */
  generatorCores: number;
  maxInFlight: number;
}

/** Runs every load at once; returns each model's result and the shared window (epoch ms). */
export async function pacedLoad(
  httpUrl: string,
  /** `seed`: the model's arrival times and texts; the same seed alone and together gives the same requests. */
  loads: { model: string; rate: number; seed: number }[],
  options: PacedOptions,
): Promise<{ window: [number, number]; results: PacedResult[] }> {
  // The server needs most of the cores: each model's generators get at most a quarter of them.
  const maxShards = Math.max(1, Math.floor(cpus().length / 4));
  // The children need a moment to start and read the bodies before the first arrival.
  const startAt = nowMs() + 1500;
  const windowStart = startAt + options.warmupS * 1000;
  const windowEnd = windowStart + options.durationS * 1000;
  const drainMs = 10_000;
  const timeoutMs = 1500 + (options.warmupS + options.durationS) * 1000 + drainMs + 60_000;
  const runs = loads.map(async ({ model, rate, seed }): Promise<PacedResult> => {
    const shards = Math.max(1, Math.min(Math.ceil(rate / options.ratePerGenerator), maxShards));
    const { ok, failed, latencies, lateness } = await runGeneratorShards(
      {
        // The generator posts to <url>/embed.
        url: `${httpUrl}/models/${encodeURIComponent(model)}`,
        bodiesFile: options.bodiesFile,
        startAt,
        windowStart,
        windowEnd,
        drainMs,
        accept: 'json',
        spinMs: 2,
        seed,
      },
      rate,
      shards,
      timeoutMs,
    );
    const latenessP99 = percentile(lateness, 99);
    return {
      model,
      offeredRate: rate,
      generators: shards,
      scheduled: ok.reduce((n, r) => n + r.scheduled, 0),
      achievedRate: ok.reduce((n, r) => n + r.completedInWindow, 0) / options.durationS,
      latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN },
      errors: ok.reduce((n, r) => n + r.errors, 0) + (failed ? 1 : 0),
      firstError: failed?.error ?? ok.find((r) => r.firstError)?.firstError ?? null,
      generatorLatenessMs: { p50: percentile(lateness, 50), p99: latenessP99, max: lateness.at(-1) ?? NaN },
      generatorLimited: !(latenessP99 <= LATE_LIMIT_MS),
      generatorCores: ok.reduce((n, r) => n + r.cpuMs / r.wallMs, 0),
      maxInFlight: ok.reduce((n, r) => n + r.maxInFlight, 0),
    };
  });
  return { window: [windowStart, windowEnd], results: await Promise.all(runs) };
}
