/** Pure post-processing of pooled vectors: Matryoshka truncation, then optional L2 normalization. */

/** Same floor as torch.nn.functional.normalize, so an all-zero vector stays zero instead of NaN. */
const NORM_FLOOR = 1e-12;

/** Writes `v` divided by its L2 norm into `out` (which may be `v`). */
function normalizeInto(v: Float32Array, out: Float32Array): void {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const scale = 1 / Math.max(Math.sqrt(sum), NORM_FLOOR);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * scale;
}

export function l2Normalize(v: Float32Array): Float32Array {
  const out = new Float32Array(v.length);
  normalizeInto(v, out);
  return out;
}

/** Every `width`-wide row of a flat [rows, width] buffer L2-normalized, into one new buffer. */
export function l2NormalizeRows(flat: Float32Array, width: number): Float32Array {
  const out = new Float32Array(flat.length);
  for (let at = 0; at < flat.length; at += width) normalizeInto(flat.subarray(at, at + width), out.subarray(at, at + width));
  return out;
}

export interface FinalizeOptions {
  /** Keep the first `dimensions` components (Matryoshka), before normalizing. */
  dimensions?: number;
  normalize: boolean;
}

/**
 * The vector a request asked for. `normalized` is `v` already L2-normalized by the backend (in
 * the graph or its worker thread): a full-width normalized request takes it as it is, so the
 * main thread does no arithmetic per vector.
 */
export function finalizeVector(v: Float32Array, { dimensions, normalize }: FinalizeOptions, normalized?: Float32Array): Float32Array {
  const truncated = dimensions !== undefined && dimensions < v.length;
  if (normalize && !truncated && normalized) return normalized;
  const cut = truncated ? v.subarray(0, dimensions) : v;
  return normalize ? l2Normalize(cut) : cut;
}
