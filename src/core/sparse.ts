/** Sparse vectors as the backend sends them (BatchResult: (index, value) pairs flattened) and as TEI answers them. */
export interface SparseValue {
  index: number;
  value: number;
}

export function unpackSparse(pairs: Float32Array): SparseValue[] {
  const out: SparseValue[] = new Array(pairs.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = { index: pairs[2 * i], value: pairs[2 * i + 1] };
  return out;
}
