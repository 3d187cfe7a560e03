/**
 * Pooling of token-level outputs into one vector per input: pure functions over the flat
 * [batch, seq, dim] output and the per-input lengths (padding sits at the end of each row).
 */
export const POOLINGS = ['mean', 'cls', 'max', 'last_token'] as const;
export type Pooling = (typeof POOLINGS)[number];

export function isPooling(s: string): s is Pooling {
  return (POOLINGS as readonly string[]).includes(s);
}

/** Returns [batch * dim] pooled values. `lengths[b]` counts the real (unpadded) tokens of row b. */
export function poolTokens(pooling: Pooling, hidden: Float32Array, lengths: ArrayLike<number>, seqLen: number, dim: number): Float32Array {
  const batch = lengths.length;
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) {
    const rowBase = b * seqLen * dim;
    const o = b * dim;
    const n = Math.max(1, lengths[b]);
    switch (pooling) {
      case 'cls':
        out.set(hidden.subarray(rowBase, rowBase + dim), o);
        break;
      case 'last_token': {
        const at = rowBase + (n - 1) * dim;
        out.set(hidden.subarray(at, at + dim), o);
        break;
      }
      case 'mean': {
        // Accumulate in float64: sentence-transformers sums in float32 on CPU, but the order differs anyway.
        const acc = new Float64Array(dim);
        for (let t = 0; t < n; t++) {
          const at = rowBase + t * dim;
          for (let d = 0; d < dim; d++) acc[d] += hidden[at + d];
        }
        for (let d = 0; d < dim; d++) out[o + d] = acc[d] / n;
        break;
      }
      case 'max': {
        out.set(hidden.subarray(rowBase, rowBase + dim), o);
        for (let t = 1; t < n; t++) {
          const at = rowBase + t * dim;
          for (let d = 0; d < dim; d++) if (hidden[at + d] > out[o + d]) out[o + d] = hidden[at + d];
        }
        break;
      }
    }
  }
  return out;
}
