/** Conversions between packed batches and ORT tensor buffers; pure, so they are tested without ORT. */
import { halfToFloat } from '../../onnx-graph/float16.js';

export type IntegerType = 'int64' | 'int32';

export interface PaddedInputs {
  seqLen: number;
  /** Rows in the tensors: the batch, plus filler rows when the batch is padded to a multiple. */
  rows: number;
  ids: BigInt64Array | Int32Array;
  mask: BigInt64Array | Int32Array;
  typeIds: BigInt64Array | Int32Array;
  positions: BigInt64Array | Int32Array;
}

export interface PadOptions {
  /** Fill position ids (default true); off, `positions` is empty. */
  positions?: boolean;
  /** Fill token type ids (default true); off, `typeIds` is empty. */
  typeIds?: boolean;
  /** Round the sequence length up to a multiple of this (fewer distinct shapes for the runtime to plan). */
  seqMultiple?: number;
  /** Round the row count up to a multiple of this with one-token filler rows (id 0, mask 1), whose outputs the caller drops. */
  batchMultiple?: number;
  /** The longest sequence the model takes: rounding up never goes past it (position tables end there). */
  maxSeqLen?: number;
  /** Round the row count up to its textRowBucket (after batchMultiple), with filler rows. */
  rowBuckets?: boolean;
}

export function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * The batch size a vision session runs `count` images at: every size up to 16, then multiples of
 * 4 up to 32, then of 8. A CUDA session's first call at a new size costs ~45 ms against ~4 ms
 * after (bench/gpu/vision-raw.ts, H200), so each bucket is warmed at load (24 up to 64 images,
 * ~1 s); the image batcher's batches under load are mostly 10-16 images, which then carry no filler.
 */
export function imageBucket(count: number): number {
  if (count <= 16) return Math.max(1, count);
  return count <= 32 ? Math.ceil(count / 4) * 4 : Math.ceil(count / 8) * 8;
}

/**
 * The rows a text batch of `count` inputs runs at with shape buckets: powers of two up to 16, then
 * multiples of 8 up to 64, then four steps per doubling (80, 96, 112, 128, 160, ...): fewer than 8
 * filler rows up to 64, under a quarter of the batch above. With powers of two, the 33-40-text
 * batches of single-text load ran at 64 rows; with these, a 36-text batch took 3.89 ms in its
 * session instead of 4.14 on an H100, and W2 went from 1.092, 1.097, 1.072 to 1.116, 1.148,
 * 1.081 M tokens/s.
 */
export function textRowBucket(count: number): number {
  if (count <= 16) return nextPow2(count);
  if (count <= 64) return Math.ceil(count / 8) * 8;
  const step = nextPow2(count) / 8;
  return Math.ceil(count / step) * step;
}

const roundUp = (n: number, multiple: number | undefined) => (multiple && multiple > 1 ? Math.ceil(n / multiple) * multiple : n);

/**
 * Right-pads every input to the longest one (pad id 0, mask 0). int64 tensors are written
 * through an Int32Array view (low word, high word 0: ids, masks and positions are small and
 * non-negative) because a BigInt per element cost ~5 ms for a 256 x 128 batch.
 */
export function padBatch(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array, type: IntegerType, options: PadOptions = {}): PaddedInputs {
  const batch = lengths.length;
  let longest = 1;
  for (let b = 0; b < batch; b++) longest = Math.max(longest, lengths[b]);
  const seqLen = Math.max(longest, Math.min(roundUp(longest, options.seqMultiple), options.maxSeqLen ?? Infinity));
  const rows = options.rowBuckets ? textRowBucket(roundUp(batch, options.batchMultiple)) : roundUp(batch, options.batchMultiple);
  const size = rows * seqLen;
  const wide = type === 'int64';
  const make = (wanted = true) => (wide ? new BigInt64Array(wanted ? size : 0) : new Int32Array(wanted ? size : 0));
  const fillPositions = options.positions !== false;
  const fillTypes = options.typeIds !== false;
  const out = { seqLen, rows, ids: make(), mask: make(), typeIds: make(fillTypes), positions: make(fillPositions) };
  // Low word first: little-endian hosts only (every platform onnxruntime-node ships for).
  const words = (a: BigInt64Array | Int32Array) => (wide ? new Int32Array(a.buffer, a.byteOffset, a.length * 2) : (a as Int32Array));
  const idW = words(out.ids);
  const maskW = words(out.mask);
  const typeW = words(out.typeIds);
  const posW = words(out.positions);
  const step = wide ? 2 : 1;
  let src = 0;
  for (let b = 0; b < batch; b++) {
    let at = b * seqLen * step;
    for (let t = 0; t < lengths[b]; t++, src++, at += step) {
      idW[at] = ids[src];
      if (fillTypes) typeW[at] = typeIds[src];
      maskW[at] = 1;
      if (fillPositions) posW[at] = t;
    }
  }
  // Filler rows: a single token (id 0) so every row has something to attend to.
  for (let b = batch; b < rows; b++) maskW[b * seqLen * step] = 1;
  return out;
}

/**
 * float16 tensor data -> float32, for models whose outputs are float16. ONNX Runtime hands it as a
 * Float16Array where the JS engine has one (Node 24) and as the raw bits in a Uint16Array before:
 * reading a Float16Array's values as bits would give nonsense vectors.
 */
export function float16ToFloat32(half: Uint16Array | ArrayLike<number>): Float32Array {
  if (!(half instanceof Uint16Array)) return Float32Array.from(half);
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = halfToFloat(half[i]);
  return out;
}
