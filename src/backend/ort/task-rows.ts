/**
 * The outputs of the task heads (onnx-graph/append-task-heads.ts) as rows of different widths:
 * one flat Float32Array and the offsets of each input's row in it (RunOutput.offsets).
 */
import type * as ort from 'onnxruntime-node';
import type { RunOutput } from './reply-vectors.js';
import { float16ToFloat32 } from './tensors.js';

/** Indices stay exact as float32 below this; vocabularies are far smaller. */
const FLOAT_EXACT = 2 ** 24;

/**
 * SPLADE non-zeros ([N, 2] (row, term), row-major, and [N] values) as (term, value) pairs per
 * input; rows past `count` are filler (shape buckets) and left out.
 */
export function sparseRows(indices: ort.Tensor, values: ort.Tensor, count: number): RunOutput {
  const at = indices.data as BigInt64Array;
  const v = values.data as Float32Array;
  const n = v.length;
  if (indices.dims.length !== 2 || indices.dims[1] !== 2 || indices.dims[0] !== n) {
    throw new Error(`sparse outputs have shapes [${indices.dims}] and [${values.dims}], expected [N, 2] and [N]`);
  }
  const offsets = new Uint32Array(count + 1);
  let kept = 0;
  for (let k = 0; k < n; k++) if (Number(at[2 * k]) < count) kept++;
  const flat = new Float32Array(kept * 2);
  let w = 0;
  let row = 0;
  for (let k = 0; k < n; k++) {
    const r = Number(at[2 * k]);
    if (r >= count) break; // row-major: filler rows come last
    while (row < r) offsets[++row] = w;
    const term = Number(at[2 * k + 1]);
    if (term >= FLOAT_EXACT) throw new Error(`sparse term index ${term} is too large to send exactly`);
    flat[w++] = term;
    flat[w++] = v[k];
  }
  while (row < count) offsets[++row] = w;
  return { vectors: flat, offsets, dimensions: 2 };
}

/** Token vectors [rows, S, D] cut to each input's real tokens (right padding), one input after another. */
export function tokenVectorRows(out: ort.Tensor, lengths: Uint32Array): RunOutput {
  const [rows, seq, dim] = out.dims;
  if (out.dims.length !== 3 || rows < lengths.length) throw new Error(`token vectors have shape [${out.dims}], expected [${lengths.length}, S, D]`);
  const data = out.type === 'float16' ? float16ToFloat32(out.data as Uint16Array) : (out.data as Float32Array);
  const offsets = new Uint32Array(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) offsets[i + 1] = offsets[i] + Math.min(lengths[i], seq) * dim;
  const flat = new Float32Array(offsets[lengths.length]);
  for (let i = 0; i < lengths.length; i++) flat.set(data.subarray(i * seq * dim, i * seq * dim + (offsets[i + 1] - offsets[i])), offsets[i]);
  return { vectors: flat, offsets, dimensions: dim };
}
