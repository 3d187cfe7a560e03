/** Pure post-processing of pooled vectors: Matryoshka truncation, then optional L2 normalization. */

export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  const out = new Float32Array(v.length);
  // Same floor as torch.nn.functional.normalize, so an all-zero vector stays zero instead of NaN.
  const scale = 1 / Math.max(norm, 1e-12);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * scale;
  return out;
}

export interface FinalizeOptions {
  /** Keep the first `dimensions` components (Matryoshka), before normalizing. */
  dimensions?: number;
  normalize: boolean;
}

export function finalizeVector(v: Float32Array, { dimensions, normalize }: FinalizeOptions): Float32Array {
  const cut = dimensions !== undefined && dimensions < v.length ? v.subarray(0, dimensions) : v;
  return normalize ? l2Normalize(cut) : cut;
}
