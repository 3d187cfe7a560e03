/** A batch's vectors as a session thread sends them back. */
import { l2NormalizeRows } from '../../core/postprocess.js';

/** A batch's flat [B, D] output; `normalized` when the graph also gave it L2-normalized. */
export interface RunOutput {
  vectors: Float32Array;
  normalized?: Float32Array;
  dimensions: number;
  /**
   * Rows of different widths (sparse pairs, token vectors): row i is vectors[offsets[i], offsets[i + 1]).
   * Such rows are sent as they are, never normalized.
   */
  offsets?: Uint32Array;
}

/** ORT may hand back a view of a larger buffer; copy only then, so the transfer is exact. */
function owned(v: Float32Array): Float32Array {
  return v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : v.slice();
}

/**
 * A run's vectors as they are sent back (transferred), raw and L2-normalized. Normalizing here,
 * when the graph did not, keeps that arithmetic off the main thread, which serves every request.
 */
export function replyVectors(out: RunOutput): {
  vectors: Float32Array;
  normalized?: Float32Array;
  offsets?: Uint32Array;
  dimensions: number;
  transfer: ArrayBuffer[];
} {
  const vectors = owned(out.vectors);
  if (out.offsets) {
    const offsets = out.offsets.slice();
    return { vectors, offsets, dimensions: out.dimensions, transfer: [vectors.buffer as ArrayBuffer, offsets.buffer as ArrayBuffer] };
  }
  const normalized = out.normalized ? owned(out.normalized) : l2NormalizeRows(vectors, out.dimensions);
  return { vectors, normalized, dimensions: out.dimensions, transfer: [vectors.buffer as ArrayBuffer, normalized.buffer as ArrayBuffer] };
}
