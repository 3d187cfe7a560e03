/**
 * The one error vocabulary of Coalesce. Every failure a client can see is a CoalesceError of one
 * of these kinds. Each transport owns its complete map from kinds to statuses
 * (transport/http/errors.ts, transport/grpc/errors.ts), so a new kind cannot be added without
 * deciding its HTTP status and gRPC code.
 */
export type ErrorKind =
  | 'empty' // no input at all
  | 'bad_request' // the body is not JSON
  | 'validation' // malformed request: wrong types, unknown values
  | 'over_limit' // well-formed, but over a server limit: too many inputs, too long, dimensions out of range
  | 'tokenizer' // the tokenizer rejected the input
  | 'payload_too_large' // body over --payload-limit
  | 'unsupported_media_type' // a body that is not declared JSON where JSON is expected
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
  // TEI names both Validation (and since 1.9 answers both 422; before, its own limit checks were 413).
  over_limit: 'Validation',
  tokenizer: 'Tokenizer',
  payload_too_large: 'PayloadTooLarge',
  unsupported_media_type: 'UnsupportedMediaType',
  not_found: 'NotFound',
  overloaded: 'Overloaded',
  cancelled: 'Cancelled',
  deadline: 'Deadline',
  backend: 'Backend',
  unhealthy: 'Unhealthy',
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
