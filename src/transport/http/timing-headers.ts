import type { Context } from 'hono';
import type { Timings } from '../../core/types.js';

/** TEI's per-request timing headers (milliseconds), so existing dashboards keep working. */
export function setTimingHeaders(c: Context, timings: Timings, tokens: number, characters: number, computeType: string): void {
  c.header('x-compute-type', computeType);
  c.header('x-compute-tokens', String(tokens));
  c.header('x-compute-characters', String(characters));
  c.header('x-total-time', String(Math.round(timings.totalMs)));
  c.header('x-tokenization-time', String(Math.round(timings.tokenizationMs)));
  c.header('x-queue-time', String(Math.round(timings.queueMs)));
  c.header('x-inference-time', String(Math.round(timings.inferenceMs)));
}
