/** How the gRPC services read proto3 request fields, one way for every tei.v1 and coalesce.v1 method. */
import type { TruncationDirection } from '../../core/types.js';
import { CoalesceError, validation } from '../../errors.js';

/** tei.v1.TruncationDirection and coalesce.v1.TruncationDirection share their numbers. */
export function truncationDirection(value: number): TruncationDirection {
  if (value === 0) return 'right';
  if (value === 1) return 'left';
  throw validation(`\`truncation_direction\` must be TRUNCATION_DIRECTION_RIGHT (0) or TRUNCATION_DIRECTION_LEFT (1), not ${value}`, 'truncation_direction');
}

/** TEI rejects an empty string as it rejects an empty list. */
export function oneInput(inputs: string): string {
  if (inputs === '') throw new CoalesceError('empty', 'Input validation error: `inputs` cannot be empty');
  return inputs;
}

/** proto3 `optional` fields decode as null (or absent) when unset. */
export const unset = <T>(value: T | null | undefined): T | undefined => (value === null ? undefined : value);

/** proto3 cannot tell false from unset: false means the server default (--auto-truncate). */
export const truncateOf = (truncate: boolean): true | undefined => (truncate ? true : undefined);
