/**
 * A request's output encoding applied to its vectors, shared by every transport: float, base64
 * (float32 bytes), int8/uint8 (per-dimension ranges), binary/ubinary (sign bits); see
 * src/core/quantize.ts for the arithmetic and quantization-ranges.ts for where ranges come from.
 */
import { encodeVector, needsRanges, type EncodedVector, type Encoding } from '../core/quantize.js';
import { rangesForRequest, type GivenRanges, type QuantizationRanges } from '../core/quantization-ranges.js';
// Float rows leave as their bytes in place: packed-float32.ts checks at load that the host is little-endian.
import './packed-float32.js';

export interface EncodeRequest {
  encoding: Encoding;
  /** The request's own ranges (int8/uint8). */
  ranges?: GivenRanges;
  /** The request's Matryoshka width; unset: the model's. */
  dimensions?: number;
  normalize: boolean;
  /** The model's full width: request ranges may have it (then they are cut to the vectors' width). */
  modelDimensions: number;
  /** How the request names its ranges field in errors. */
  rangesField?: string;
}

export type VectorEncoder = (vectors: readonly Float32Array[]) => EncodedVector[];

/**
 * The request's encoding as a function of its vectors, checked before the model runs: ranges of
 * the wrong width, or int8/uint8 with none to use, fail the request before it costs a model call.
 * float and base64 give the vectors themselves.
 */
export function vectorEncoder(request: EncodeRequest, server: QuantizationRanges | null | undefined): VectorEncoder {
  const { encoding } = request;
  if (!needsRanges(encoding)) return (vectors) => vectors.map((v) => encodeVector(v, encoding));
  const full = request.modelDimensions;
  // An out-of-bounds `dimensions` is the facade's error to give: checked here at full width.
  const width = request.dimensions !== undefined && request.dimensions >= 1 && request.dimensions <= full ? request.dimensions : full;
  const ranges = rangesForRequest(server, { width, modelDimensions: full, normalize: request.normalize, given: request.ranges, field: request.rangesField });
  return (vectors) => vectors.map((v) => encodeVector(v, encoding, ranges));
}

/** One encoded vector's bytes, read in place (float32 little-endian: packed-float32.ts checks the host). */
export function vectorBytes(v: EncodedVector): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Rows of one width as one buffer, row-major. */
export function packRows(rows: readonly EncodedVector[]): { bytes: Uint8Array<ArrayBuffer>; rowBytes: number } {
  const rowBytes = rows.length > 0 ? rows[0].byteLength : 0;
  const out = new Uint8Array(rows.length * rowBytes);
  rows.forEach((row, i) => out.set(vectorBytes(row), i * rowBytes));
  return { bytes: out, rowBytes };
}

/** An integer vector as a JSON array. */
export function intsJson(v: Int8Array | Uint8Array): string {
  return `[${v.join(',')}]`;
}

/** A vector's bytes as base64 (OpenAI's and Cohere's base64: float32 little-endian). */
export function base64Of(v: EncodedVector): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}
