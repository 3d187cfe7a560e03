/**
 * Request-body readers: validate only what the routes use, and name the field at fault, so a
 * wrong type is a 422 that says which field and why rather than a crash.
 */
import { CoalesceError, validation } from '../../errors.js';
import type { TruncationDirection } from '../../core/types.js';

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

const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/** A string or a list of strings. */
export function stringInputs(body: Body, field: string): string[] {
  const v = body[field];
  if (v === undefined) throw validation(`\`${field}\` is required`, field);
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) throw validation(`\`${field}\` must be a string or a list of strings, not ${describe(v)}`, field);
  v.forEach((item, i) => {
    if (typeof item !== 'string') {
      const hint = typeof item === 'number' || Array.isArray(item) ? ' (token-id inputs are not supported: send text)' : '';
      throw validation(`\`${field}[${i}]\` must be a string, not ${describe(item)}${hint}`, field);
    }
  });
  return v as string[];
}

export function optionalBool(body: Body, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw validation(`\`${field}\` must be a boolean, not ${describe(v)}`, field);
  return v;
}

export function optionalInt(body: Body, field: string): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw validation(`\`${field}\` must be an integer, not ${JSON.stringify(v)}`, field);
  return v;
}

export function optionalString(body: Body, field: string): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw validation(`\`${field}\` must be a string, not ${describe(v)}`, field);
  return v;
}

/** TEI spells it "Right" / "Left"; accept any case. */
export function truncationDirection(body: Body, field = 'truncation_direction'): TruncationDirection | undefined {
  const v = optionalString(body, field);
  if (v === undefined) return undefined;
  const lower = v.toLowerCase();
  if (lower !== 'left' && lower !== 'right') throw validation(`\`${field}\` must be "Left" or "Right", not ${JSON.stringify(v)}`, field);
  return lower;
}

/** A list of token ids, or a list of such lists. */
export function idLists(body: Body, field: string): number[][] {
  const v = body[field];
  if (!Array.isArray(v)) throw validation(`\`${field}\` must be a list of token ids or a list of such lists`, field);
  const lists = v.length > 0 && v.every((x) => typeof x === 'number') ? [v as number[]] : (v as unknown[]);
  return lists.map((list, i) => {
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
      throw validation(`\`${field}[${i}]\` must be a list of non-negative integer token ids`, field);
    }
    return list as number[];
  });
}
