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
  | 'model_kind' // the route needs another kind of model (a reranker, a classifier, ...)
  | 'unhealthy' // the model is not loaded or not warm yet, or the server is draining
  | 'unauthorized' // no API key or a wrong one (--api-key)
  | 'internal'; // a bug of ours: anything thrown that is not a CoalesceError

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
  // TEI answers a route the model cannot serve as a backend error ("model is not a re-ranker model").
  model_kind: 'Backend',
  unhealthy: 'Unhealthy',
  unauthorized: 'Unauthorized',
  internal: 'Internal',
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

/** Where the transport boundary reports throwables that are not CoalesceErrors (bugs); stderr until a logger is set. */
let reportInternal: (error: unknown) => void = (e) => console.error('internal error:', e);

export function onInternalError(report: (error: unknown) => void): void {
  reportInternal = report;
}

/**
 * Normalizes anything thrown into the vocabulary, once, at the transport boundary. A throwable
 * that is not a CoalesceError is a bug of ours: `internal` (500), reported with its stack. Code
 * that knows what failed (the model call: `backend`) says so with `fallback`.
 */
export function toCoalesceError(e: unknown, fallback: ErrorKind = 'internal'): CoalesceError {
  if (isCoalesceError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (fallback === 'internal') {
    reportInternal(e);
    return new CoalesceError('internal', `internal error: ${clip(message)}`);
  }
  return new CoalesceError(fallback, clip(message));
}

/** Longest stretch of client-supplied text an error message quotes. */
export const QUOTE_LIMIT = 200;

/** Cuts text for an error message, saying how much was left out. */
export function clip(text: string, limit = QUOTE_LIMIT): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}... (${text.length - limit} more characters)`;
}

/**
 * A client-supplied value as an error message quotes it: JSON for short scalars, a description
 * for the rest, never more than QUOTE_LIMIT characters and never a deep walk of the value.
 */
export function quote(value: unknown): string {
  if (typeof value === 'string') {
    const shown = JSON.stringify(value.slice(0, QUOTE_LIMIT));
    return value.length > QUOTE_LIMIT ? `${shown}... (${value.length} characters)` : shown;
  }
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

export const validation = (message: string, param?: string) => new CoalesceError('validation', message, param);
export const overLimit = (message: string, param?: string) => new CoalesceError('over_limit', message, param);
export const cancelled = () => new CoalesceError('cancelled', 'the client cancelled the request');
export const shuttingDown = () => new CoalesceError('unhealthy', 'the server is shutting down');
