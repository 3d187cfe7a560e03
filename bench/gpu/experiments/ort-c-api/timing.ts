/**
 * Latency of one call per path, the paths interleaved: each round runs every path for a block of
 * calls, the order rotating, so that what the rest of a shared machine does falls on all of them alike.
 */
import { percentile } from '../../../load.js';

export interface TimedPath {
  label: string;
  /** One call, start to result in JS. */
  call: () => unknown;
}

export interface Latency {
  label: string;
  runs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
}

export async function timeInterleaved(
  paths: TimedPath[],
  options: { warmup: number; runs: number; rounds: number; afterWarmup?: () => void },
): Promise<Latency[]> {
  for (const p of paths) for (let i = 0; i < options.warmup; i++) await p.call();
  options.afterWarmup?.();
  const samples = paths.map(() => [] as number[]);
  const perRound = Math.ceil(options.runs / options.rounds);
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < paths.length; k++) {
      const i = (k + round) % paths.length;
      const { call } = paths[i];
      const out = samples[i];
      for (let n = 0; n < perRound && out.length < options.runs; n++) {
        const t = performance.now();
        const r = call();
        if (r instanceof Promise) await r;
        out.push(performance.now() - t);
      }
    }
  }
  return paths.map((p, i) => summarize(p.label, samples[i]));
}

export function summarize(label: string, ms: number[]): Latency {
  const sorted = Float64Array.from(ms).sort();
  const sum = ms.reduce((a, b) => a + b, 0);
  return {
    label,
    runs: ms.length,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    meanMs: sum / ms.length,
    minMs: sorted[0],
  };
}
