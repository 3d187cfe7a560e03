/**
 * gRPC side of the one error vocabulary: CoalesceError kinds become status codes through
 * GRPC_STATUS, and a call's cancellation and deadline become one AbortSignal for the embedder,
 * so a call that ends early drops its queued inputs from the batcher.
 */
import { Metadata, status, type Deadline, type ServerErrorResponse } from '@grpc/grpc-js';
import { clip, CoalesceError, ERROR_TYPE, toCoalesceError, type ErrorKind } from '../../errors.js';
import { MalformedMessage } from './protos.js';

/** What every server call has: a cancellation event and a deadline. */
interface ServerSurfaceCall {
  on(event: 'cancelled', listener: () => void): unknown;
  removeListener(event: 'cancelled', listener: () => void): unknown;
  getDeadline(): Deadline;
}

/** The gRPC transport's complete map from the error vocabulary to status codes (as TEI's gRPC server). */
export const GRPC_STATUS: Record<ErrorKind, status> = {
  empty: status.INVALID_ARGUMENT,
  bad_request: status.INVALID_ARGUMENT,
  validation: status.INVALID_ARGUMENT,
  over_limit: status.INVALID_ARGUMENT,
  // As TEI's gRPC server.
  tokenizer: status.FAILED_PRECONDITION,
  payload_too_large: status.RESOURCE_EXHAUSTED,
  unsupported_media_type: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  overloaded: status.RESOURCE_EXHAUSTED,
  cancelled: status.CANCELLED,
  deadline: status.DEADLINE_EXCEEDED,
  backend: status.FAILED_PRECONDITION,
  model_kind: status.FAILED_PRECONDITION,
  unhealthy: status.UNAVAILABLE,
  unauthorized: status.UNAUTHENTICATED,
  internal: status.INTERNAL,
};

/**
 * Longest status details sent: grpc-js can stall the whole HTTP/2 connection on an error whose
 * details run to ~100 KB, so no message, whatever it quotes, goes out longer than this.
 */
export const MAX_DETAILS = 1024;

export function toServiceError(thrown: unknown): ServerErrorResponse {
  const error = toCoalesceError(thrown);
  const metadata = new Metadata();
  // TEI's error_type, for clients that switch on it as they do over HTTP.
  metadata.set('x-error-type', ERROR_TYPE[error.kind]);
  const details = clip(error.message, MAX_DETAILS);
  return Object.assign(new Error(details), { code: GRPC_STATUS[error.kind], details, metadata });
}

/** The decoded request, or a validation error when its bytes were not the message. */
export function decoded<T>(request: T | MalformedMessage): T {
  if (request instanceof MalformedMessage) throw new CoalesceError('bad_request', request.reason);
  return request;
}

export interface CallScope {
  readonly signal: AbortSignal;
  /** The error to answer with: a deadline or cancellation wins over what the aborted work threw. */
  failure(thrown: unknown): ServerErrorResponse;
  /** Ends the call's remaining work, e.g. the other messages of a stream that failed. */
  abort(reason: unknown): void;
  dispose(): void;
}

/**
 * Aborts on the client's cancellation and at the call's deadline. grpc-js answers
 * DEADLINE_EXCEEDED by itself when the deadline passes; the timer here is what tells the
 * batcher, so the expired call's inputs are dropped instead of run.
 */
export function callScope(call: ServerSurfaceCall): CallScope {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onCancelled = () => controller.abort(new CoalesceError('cancelled', 'the client cancelled the call'));
  call.on('cancelled', onCancelled);
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(deadlineMs)) {
    const abortAtDeadline = () => controller.abort(new CoalesceError('deadline', "the call's deadline passed before it finished"));
    const remaining = deadlineMs - Date.now();
    if (remaining <= 0) abortAtDeadline();
    // setTimeout's limit is 2^31-1 ms; a deadline further out than ~24 days is as good as none.
    else if (remaining < 2 ** 31) timer = setTimeout(abortAtDeadline, remaining);
  }
  return {
    signal: controller.signal,
    failure: (thrown) => toServiceError(controller.signal.aborted ? controller.signal.reason : thrown),
    abort: (reason) => controller.abort(reason),
    dispose: () => {
      clearTimeout(timer);
      call.removeListener('cancelled', onCancelled);
    },
  };
}
