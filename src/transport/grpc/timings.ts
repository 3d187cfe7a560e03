import { Metadata } from '@grpc/grpc-js';
import type { Timings } from '../../core/types.js';
import { timingHeaders } from '../timing-headers.js';

/** TEI's Metadata message (tei.v1 and coalesce.v1 share its shape): nanoseconds. */
export interface ProtoMetadata {
  compute_chars: number;
  compute_tokens: number;
  total_time_ns: number;
  tokenization_time_ns: number;
  queue_time_ns: number;
  inference_time_ns: number;
}

const ns = (ms: number) => Math.max(0, Math.round(ms * 1e6));

export function protoMetadata(timings: Timings, tokens: number, chars: number): ProtoMetadata {
  return {
    compute_chars: chars,
    compute_tokens: tokens,
    total_time_ns: ns(timings.totalMs),
    tokenization_time_ns: ns(timings.tokenizationMs),
    queue_time_ns: ns(timings.queueMs),
    inference_time_ns: ns(timings.inferenceMs),
  };
}

/** The same numbers as response metadata, in milliseconds, as TEI's gRPC server and our HTTP routes send them. */
export function timingMetadata(timings: Timings, tokens: number, chars: number, computeType: string): Metadata {
  const m = new Metadata();
  for (const [name, value] of Object.entries(timingHeaders(timings, tokens, chars, computeType))) m.set(name, value);
  return m;
}
