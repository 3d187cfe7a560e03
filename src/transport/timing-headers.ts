import type { Timings } from '../core/types.js';

/**
 * TEI's per-request timing headers (milliseconds), so existing dashboards keep working: HTTP
 * sends them as headers, gRPC as response metadata. A fresh record each call: HTTP routes add
 * their own headers to it.
 */
export function timingHeaders(timings: Timings, tokens: number, characters: number, computeType: string): Record<string, string> {
  return {
    'x-compute-type': computeType,
    'x-compute-tokens': String(tokens),
    'x-compute-characters': String(characters),
    'x-total-time': String(Math.round(timings.totalMs)),
    'x-tokenization-time': String(Math.round(timings.tokenizationMs)),
    'x-queue-time': String(Math.round(timings.queueMs)),
    'x-inference-time': String(Math.round(timings.inferenceMs)),
  };
}
