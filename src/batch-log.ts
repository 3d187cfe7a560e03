/**
 * --log-batches: one log line per model call, to see how the batcher coalesces a load (and for
 * the GPU bench, which replays the served batch sizes on the raw sessions). Off by default: it
 * adds a log write per call on the main thread.
 */
import type { BatchStats } from './core/batcher.js';
import type { Logger } from './log.js';

type BatchHook = (batch: BatchStats) => void;

const ms = (x: number) => Math.round(x * 100) / 100;

/** `observe` (the metrics hook), then, when `log` is given, the call's line. */
export function batchHook(observe: BatchHook, log: Logger | null, kind: 'text' | 'image'): BatchHook {
  if (!log) return observe;
  return (batch) => {
    observe(batch);
    log('batch', {
      kind,
      inputs: batch.size,
      ...(kind === 'text' ? { tokens: batch.useful, padded_tokens: batch.units } : {}),
      ms: ms(batch.inferenceMs),
      ...(batch.sessionMs !== undefined ? { session_ms: ms(batch.sessionMs) } : {}),
    });
  };
}
