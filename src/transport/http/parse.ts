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
  checkDepth(value);
  return value as Body;
}

/** Deepest nesting a body may have; the deepest field any route reads (lists of token ids) is 3. */
export const MAX_JSON_DEPTH = 32;

/** Without a walk that cannot overflow the stack, a deeply nested value would reach code that recurses (schemas, error messages). */
function checkDepth(root: object): void {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) throw validation(`the request body nests deeper than ${MAX_JSON_DEPTH} levels`);
    for (const child of Array.isArray(value) ? value : Object.values(value as object)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
}
