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

/** Unicode scalar values, as TEI counts `compute_chars` (Rust's `chars().count()`), not UTF-16 units. */
export function countChars(texts: readonly string[]): number {
  let n = 0;
  for (const text of texts) {
    n += text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      // A high surrogate followed by a low one is one character in two units.
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          n--;
          i++;
        }
      }
    }
  }
  return n;
}
