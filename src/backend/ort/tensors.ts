/** Conversions between packed batches and ORT tensor buffers; pure, so they are tested without ORT. */

export type IntegerType = 'int64' | 'int32';

export interface PaddedInputs {
  seqLen: number;
  ids: BigInt64Array | Int32Array;
  mask: BigInt64Array | Int32Array;
  typeIds: BigInt64Array | Int32Array;
  positions: BigInt64Array | Int32Array;
}

/** Right-pads every input to the longest one (pad id 0, mask 0). */
export function padBatch(ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array, type: IntegerType): PaddedInputs {
  const batch = lengths.length;
  let seqLen = 1;
  for (let b = 0; b < batch; b++) seqLen = Math.max(seqLen, lengths[b]);
  const size = batch * seqLen;
  const make = () => (type === 'int64' ? new BigInt64Array(size) : new Int32Array(size));
  const out = { seqLen, ids: make(), mask: make(), typeIds: make(), positions: make() };
  const one = type === 'int64' ? 1n : 1;
  let src = 0;
  for (let b = 0; b < batch; b++) {
    const row = b * seqLen;
    for (let t = 0; t < lengths[b]; t++, src++) {
      if (type === 'int64') {
        (out.ids as BigInt64Array)[row + t] = BigInt(ids[src]);
        (out.typeIds as BigInt64Array)[row + t] = BigInt(typeIds[src]);
        (out.positions as BigInt64Array)[row + t] = BigInt(t);
      } else {
        (out.ids as Int32Array)[row + t] = ids[src];
        (out.typeIds as Int32Array)[row + t] = typeIds[src];
        (out.positions as Int32Array)[row + t] = t;
      }
      (out.mask as Int32Array | BigInt64Array)[row + t] = one as never;
    }
  }
  return out;
}

/** IEEE 754 half -> single, for models whose outputs are float16. */
export function float16ToFloat32(half: Uint16Array): Float32Array {
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) {
    const h = half[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}
