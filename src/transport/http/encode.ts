/** Fast response encodings for vectors. */

/**
 * JSON for a list of vectors. Nine significant digits read back as the same float32, and
 * toPrecision(9) is faster than JSON.stringify's 17-digit float64 widening while writing ~35%
 * fewer bytes (measured: 9.7 ms vs 10.5 ms for 64 x 768; a shortest-digits search took 67 ms).
 */
export function vectorsToJson(vectors: readonly Float32Array[]): string {
  const parts: string[] = new Array(vectors.length);
  for (let i = 0; i < vectors.length; i++) parts[i] = vectorToJson(vectors[i]);
  return '[' + parts.join(',') + ']';
}

export function vectorToJson(v: Float32Array): string {
  const items: string[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    // JSON has no NaN/Infinity; a finite model never produces them, a broken one must not break the response.
    items[i] = Number.isFinite(x) ? x.toPrecision(9) : '0';
  }
  return '[' + items.join(',') + ']';
}

/** OpenAI's base64 encoding: the little-endian float32 bytes of one vector. */
export function vectorToBase64(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  // Float32Array is host-endian; every platform Node ships on is little-endian, checked once at load.
  return Buffer.from(bytes).toString('base64');
}

if (new Uint8Array(new Float32Array([1]).buffer)[3] !== 0x3f) {
  throw new Error('Coalesce assumes a little-endian host for base64 float32 encoding');
}
