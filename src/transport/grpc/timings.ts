import { Metadata } from '@grpc/grpc-js';
import type { Timings } from '../../core/types.js';

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

/** The same numbers as response headers, in milliseconds, as TEI's gRPC server and our HTTP routes send them. */
export function timingHeaders(timings: Timings, tokens: number, chars: number, computeType: string): Metadata {
  const m = new Metadata();
  m.set('x-compute-type', computeType);
  m.set('x-compute-tokens', String(tokens));
  m.set('x-compute-characters', String(chars));
  m.set('x-total-time', String(Math.round(timings.totalMs)));
  m.set('x-tokenization-time', String(Math.round(timings.tokenizationMs)));
  m.set('x-queue-time', String(Math.round(timings.queueMs)));
  m.set('x-inference-time', String(Math.round(timings.inferenceMs)));
  return m;
}
