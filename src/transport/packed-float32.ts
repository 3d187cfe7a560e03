/**
 * Vectors as little-endian float32 bytes, shared by HTTP (octet-stream answers) and, through
 * vector-encodings.ts, base64 and gRPC (coalesce.v1 packed matrices). Float32Array is host-endian; every platform Node ships
 * on is little-endian, which is checked once at load.
 */
if (new Uint8Array(new Float32Array([1]).buffer)[3] !== 0x3f) {
  throw new Error('Coalesce assumes a little-endian host for packed float32 encodings');
}

/** The vectors as one buffer of row-major float32 rows; every row has the same width. */
export function vectorsToPackedFloat32(vectors: readonly Float32Array[]): { bytes: Uint8Array<ArrayBuffer>; dimensions: number } {
  const dimensions = vectors.length > 0 ? vectors[0].length : 0;
  const out = new Float32Array(vectors.length * dimensions);
  vectors.forEach((v, i) => out.set(v, i * dimensions));
  return { bytes: new Uint8Array(out.buffer), dimensions };
}
