import type { Context } from 'hono';
import type { Timings } from '../../core/types.js';
import { timingHeaders } from '../timing-headers.js';

export function setTimingHeaders(c: Context, timings: Timings, tokens: number, characters: number, computeType: string): void {
  for (const [name, value] of timingHeaders(timings, tokens, characters, computeType)) c.header(name, value);
}
