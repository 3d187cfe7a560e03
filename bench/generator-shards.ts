/**
 * One Poisson arrival rate spread over generator processes (open-loop-generator.ts): Poisson
 * processes add up, so each of `shards` children sends rate / shards. Used by the open-loop
 * ladder and the paced two-model phase.
 */
import { runChild } from './gpu/child.js';
import type { GeneratorResult, GeneratorTask } from './open-loop-generator.js';

export type ShardCommon = Omit<GeneratorTask, 'shard' | 'shards' | 'rate'>;

export interface ShardResults {
  ok: GeneratorResult[];
  /** The first child that died or overran, if any. */
  failed: { error: string } | undefined;
  /** Every answered request's latency and every request's lateness, sorted (ms). */
  latencies: Float64Array;
  lateness: Float64Array;
}

const sorted = (xs: number[]) => Float64Array.from(xs).sort();

export async function runGeneratorShards(common: ShardCommon, rate: number, shards: number, timeoutMs: number): Promise<ShardResults> {
  const tasks: GeneratorTask[] = Array.from({ length: shards }, (_, shard) => ({ ...common, shard, shards, rate: rate / shards }));
  const out = (await Promise.all(tasks.map((t) => runChild('../open-loop-generator.js', t, timeoutMs)))) as (GeneratorResult | { error: string })[];
  const ok = out.filter((r): r is GeneratorResult => !('error' in r));
  return {
    ok,
    failed: out.find((r): r is { error: string } => 'error' in r),
    latencies: sorted(ok.flatMap((r) => r.latencies)),
    lateness: sorted(ok.flatMap((r) => r.lateness)),
  };
}
