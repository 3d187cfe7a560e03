/** The body of a JSON route as a JSON object; what its fields must be is said by schemas.ts. */
import { CoalesceError, validation } from '../../errors.js';

export type Body = Record<string, unknown>;

export function parseJsonBody(text: string): Body {
  if (text.trim() === '') throw new CoalesceError('empty', 'the request body is empty: send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CoalesceError('bad_request', `the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw validation('the request body must be a JSON object');
  }
  return value as Body;
}
