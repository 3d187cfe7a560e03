/**
 * Compact encodings of embedding vectors, with sentence-transformers' `quantize_embeddings`
 * semantics (and so Cohere's `embedding_types`):
 * - uint8: per dimension, (x - min) / ((max - min) / 255), cut toward zero;
 * - int8: the same value minus 128, cut toward zero (not uint8 - 128: numpy truncates after the
 *   subtraction, so 0.5 gives uint8 0 but int8 -127);
 * - ubinary: one bit per dimension, 1 where x > 0, packed 8 per byte, first dimension in the
 *   most significant bit (np.packbits); binary: the same bytes minus 128, as int8.
 * The arithmetic is float32 as numpy does it on float32 embeddings and ranges. Where numpy's
 * casts are undefined, these clamp: a value outside its range gives 0 or 255 (-128 or 127); a
 * dimension whose min equals its max is a step (the lowest code up to that value, the top code
 * above it). Rows whose width is not a multiple
 * of 8 are padded with 0 bits at their end (np.packbits on each row).
 */

export const ENCODINGS = ['float', 'base64', 'int8', 'uint8', 'binary', 'ubinary'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** The encodings that need per-dimension ranges. */
export type ScalarEncoding = 'int8' | 'uint8';
export const needsRanges = (e: Encoding): e is ScalarEncoding => e === 'int8' || e === 'uint8';

/** Per-dimension minimum and maximum: the (2, dimensions) `ranges` of sentence-transformers. */
export interface Ranges {
  readonly min: Float32Array;
  readonly max: Float32Array;
}

/** A vector in an encoding: float32 values, or one byte per dimension (int8/uint8), or one bit (binary/ubinary). */
export type EncodedVector = Float32Array | Int8Array | Uint8Array;

const f = Math.fround;

/** (x - min) / step in float32, step = (max - min) / 255 in float32; NaN where max == min. */
function scaled(x: number, min: number, max: number): number {
  const step = f(f(max - min) / 255);
  return f(f(x - min) / step);
}

export function quantizeUint8(v: ArrayLike<number>, ranges: Ranges): Uint8Array {
  checkWidth(v.length, ranges);
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const q = Math.trunc(scaled(v[i], ranges.min[i], ranges.max[i]));
    // biome-ignore lint/complexity/useMathMinMax: NaN (x == min == max) must give the lowest code, which Math.min/max would not
    out[i] = q > 255 ? 255 : q > 0 ? q : 0;
  }
  return out;
}

export function quantizeInt8(v: ArrayLike<number>, ranges: Ranges): Int8Array {
  checkWidth(v.length, ranges);
  const out = new Int8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const q = Math.trunc(f(scaled(v[i], ranges.min[i], ranges.max[i]) - 128));
    // biome-ignore lint/complexity/useMathMinMax: NaN (x == min == max) must give -128, which Math.min/max would not
    out[i] = q > 127 ? 127 : q > -128 ? q : -128;
  }
  return out;
}

/** Sign bits, 8 dimensions per byte, the first in the high bit. */
export function packUbinary(v: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(v.length / 8));
  for (let i = 0; i < v.length; i++) if (v[i] > 0) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
}

/** The ubinary bytes minus 128, as int8. */
export function packBinary(v: ArrayLike<number>): Int8Array {
  const packed = packUbinary(v);
  const out = new Int8Array(packed.length);
  for (let i = 0; i < packed.length; i++) out[i] = packed[i] - 128;
  return out;
}

/** Per-dimension min and max over `vectors` (all of one width): sentence-transformers' ranges from calibration embeddings. */
export function rangesOf(vectors: readonly ArrayLike<number>[]): Ranges {
  if (vectors.length === 0) throw new Error('ranges need at least one vector');
  const width = vectors[0].length;
  const min = new Float32Array(width).fill(Number.POSITIVE_INFINITY);
  const max = new Float32Array(width).fill(Number.NEGATIVE_INFINITY);
  for (const v of vectors) {
    if (v.length !== width) throw new Error(`ranges need vectors of one width: ${v.length} != ${width}`);
    for (let i = 0; i < width; i++) {
      if (v[i] < min[i]) min[i] = v[i];
      if (v[i] > max[i]) max[i] = v[i];
    }
  }
  return { min, max };
}

/** The first `width` dimensions of `ranges`. */
export function sliceRanges(ranges: Ranges, width: number): Ranges {
  return width === ranges.min.length ? ranges : { min: ranges.min.subarray(0, width), max: ranges.max.subarray(0, width) };
}

/** Bytes one vector of `dimensions` takes in `encoding`. */
export function rowBytes(encoding: Encoding, dimensions: number): number {
  if (encoding === 'binary' || encoding === 'ubinary') return Math.ceil(dimensions / 8);
  if (encoding === 'int8' || encoding === 'uint8') return dimensions;
  return dimensions * 4;
}

/** `v` in `encoding` (float and base64: `v` itself); int8/uint8 need `ranges` as wide as `v`. */
export function encodeVector(v: Float32Array, encoding: Encoding, ranges?: Ranges): EncodedVector {
  switch (encoding) {
    case 'float':
    case 'base64':
      return v;
    case 'int8':
      return quantizeInt8(v, required(ranges));
    case 'uint8':
      return quantizeUint8(v, required(ranges));
    case 'binary':
      return packBinary(v);
    case 'ubinary':
      return packUbinary(v);
  }
}

function required(ranges: Ranges | undefined): Ranges {
  if (!ranges) throw new Error('int8 and uint8 need ranges');
  return ranges;
}

function checkWidth(width: number, ranges: Ranges): void {
  if (ranges.min.length !== width || ranges.max.length !== width) {
    throw new Error(`ranges of ${ranges.min.length} dimensions for a vector of ${width}`);
  }
}
