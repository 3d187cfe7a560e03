import { ERROR_TYPE, type CoalesceError, type ErrorKind } from '../../errors.js';

/**
 * The HTTP transport's complete map from the error vocabulary to statuses: TEI 1.9's (which
 * answers its limit checks 422, as other validation errors; TEI before 1.9 answered them 413), and
 * 499 for a client gone.
 */
export const HTTP_STATUS: Record<ErrorKind, number> = {
  empty: 400,
  bad_request: 400,
  validation: 422,
  over_limit: 422,
  tokenizer: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  overloaded: 429,
  cancelled: 499,
  deadline: 504,
  backend: 424,
  // TEI's status for a route the model cannot serve (a 4xx: the client asked the wrong model).
  model_kind: 424,
  unhealthy: 503,
  unauthorized: 401,
  internal: 500,
};

/** OpenAI's error `type` per kind: clients (the openai SDK) map statuses, not these, but show them. */
const OPENAI_TYPE: Record<ErrorKind, string> = {
  empty: 'invalid_request_error',
  bad_request: 'invalid_request_error',
  validation: 'invalid_request_error',
  over_limit: 'invalid_request_error',
  tokenizer: 'invalid_request_error',
  payload_too_large: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  not_found: 'invalid_request_error',
  overloaded: 'rate_limit_exceeded',
  cancelled: 'cancelled',
  deadline: 'timeout',
  backend: 'server_error',
  model_kind: 'invalid_request_error',
  unhealthy: 'server_error',
  unauthorized: 'invalid_request_error',
  internal: 'server_error',
};

export type ErrorStyle = 'tei' | 'openai' | 'cohere';

/** OpenAI (and Cohere) answer 400 to every request they find invalid, where TEI answers 422. */
const OPENAI_STATUS: Partial<Record<ErrorKind, number>> = { validation: 400, over_limit: 400, tokenizer: 400, model_kind: 400 };

export function httpStatus(error: CoalesceError, style: ErrorStyle): number {
  return (style === 'tei' ? undefined : OPENAI_STATUS[error.kind]) ?? HTTP_STATUS[error.kind];
}

export function errorBody(error: CoalesceError, style: ErrorStyle): unknown {
  // Cohere's error body is a message; the field and the kind ride along for clients that look.
  if (style === 'cohere') return { message: error.message, error_type: ERROR_TYPE[error.kind], param: error.param ?? null };
  if (style === 'openai') {
    return { error: { message: error.message, type: OPENAI_TYPE[error.kind], param: error.param ?? null, code: ERROR_TYPE[error.kind] } };
  }
  return { error: error.message, error_type: ERROR_TYPE[error.kind] };
}
