/**
 * The one error vocabulary of Coalesce. Every failure a client can see is a CoalesceError of one
 * of these kinds; transports map kinds to statuses through the two complete tables below, so a
 * new kind cannot be added without deciding its HTTP status and gRPC code.
 */
export type ErrorKind =
  | 'empty' // no input at all
  | 'bad_request' // the body is not JSON
  | 'validation' // malformed request: wrong types, unknown values
  | 'over_limit' // well-formed, but over a server limit: too many inputs, too long, dimensions out of range
  | 'tokenizer' // the tokenizer rejected the input
  | 'payload_too_large' // body over --payload-limit
  | 'not_found' // unknown route or resource
  | 'overloaded' // admission refused: --max-concurrent-requests reached
  | 'cancelled' // the client went away
  | 'deadline' // the client's deadline passed
  | 'backend' // the model call failed
  | 'unhealthy'; // the model is not loaded or not warm yet, or the server is draining

/** TEI's `error_type` names, so TEI clients that switch on them keep working. */
export const ERROR_TYPE: Record<ErrorKind, string> = {
  empty: 'Empty',
  bad_request: 'BadRequest',
  validation: 'Validation',
  // TEI names both Validation; it answers its own checks 413 and body-shape errors (axum's) 422.
  over_limit: 'Validation',
  tokenizer: 'Tokenizer',
  payload_too_large: 'PayloadTooLarge',
  not_found: 'NotFound',
  overloaded: 'Overloaded',
  cancelled: 'Cancelled',
  deadline: 'Deadline',
  backend: 'Backend',
  unhealthy: 'Unhealthy',
};

export const HTTP_STATUS: Record<ErrorKind, number> = {
  empty: 400,
  bad_request: 400,
  validation: 422,
  over_limit: 413,
  tokenizer: 422,
  payload_too_large: 413,
  not_found: 404,
  overloaded: 429,
  cancelled: 499,
  deadline: 504,
  backend: 424,
  unhealthy: 503,
};

/** grpc.status numbers, spelled out so the core needs no gRPC import. */
export const GRPC_CODE = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export const GRPC_STATUS: Record<ErrorKind, number> = {
  empty: GRPC_CODE.INVALID_ARGUMENT,
  bad_request: GRPC_CODE.INVALID_ARGUMENT,
  validation: GRPC_CODE.INVALID_ARGUMENT,
  over_limit: GRPC_CODE.INVALID_ARGUMENT,
  // As TEI's gRPC server.
  tokenizer: GRPC_CODE.FAILED_PRECONDITION,
  payload_too_large: GRPC_CODE.RESOURCE_EXHAUSTED,
  not_found: GRPC_CODE.NOT_FOUND,
  overloaded: GRPC_CODE.RESOURCE_EXHAUSTED,
  cancelled: GRPC_CODE.CANCELLED,
  deadline: GRPC_CODE.DEADLINE_EXCEEDED,
  backend: GRPC_CODE.FAILED_PRECONDITION,
  unhealthy: GRPC_CODE.UNAVAILABLE,
};

export class CoalesceError extends Error {
  /** Detectable without instanceof (errors may cross module copies or worker boundaries). */
  readonly isCoalesceError = true;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** The request field at fault, when there is one (OpenAI's `param`). */
    readonly param?: string,
  ) {
    super(message);
    this.name = 'CoalesceError';
  }
}

export function isCoalesceError(e: unknown): e is CoalesceError {
  return typeof e === 'object' && e !== null && (e as { isCoalesceError?: unknown }).isCoalesceError === true;
}

/** Normalizes anything thrown into the vocabulary, once, at the transport boundary. */
export function toCoalesceError(e: unknown, fallback: ErrorKind = 'backend'): CoalesceError {
  if (isCoalesceError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new CoalesceError(fallback, message);
}

export const validation = (message: string, param?: string) => new CoalesceError('validation', message, param);
export const overLimit = (message: string, param?: string) => new CoalesceError('over_limit', message, param);
export const cancelled = () => new CoalesceError('cancelled', 'the client cancelled the request');
export const shuttingDown = () => new CoalesceError('unhealthy', 'the server is shutting down');
