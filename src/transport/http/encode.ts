/** Fast response encodings for vectors. */
import { vectorToJsonString } from './float-json.js';

/** OpenAI's response body: one embedding object per vector, floats or base64 as asked. */
export function openaiListBody(vectors: readonly Float32Array[], format: 'float' | 'base64', model: string, promptTokens: number): string {
  const data = vectors.map(
    (v, index) => `{"object":"embedding","index":${index},"embedding":${format === 'base64' ? JSON.stringify(vectorToBase64(v)) : vectorToJsonString(v)}}`,
  );
  const usage = { prompt_tokens: promptTokens, total_tokens: promptTokens };
  return `{"object":"list","data":[${data.join(',')}],"model":${JSON.stringify(model)},"usage":${JSON.stringify(usage)}}`;
}

/** True when the Accept header asks for application/octet-stream (packed float32) before any JSON type. */
export function acceptsPackedFloat32(accept: string | undefined): boolean {
  if (!accept) return false;
  const a = accept.toLowerCase();
  const binary = a.indexOf('application/octet-stream');
  const json = a.indexOf('json');
  return binary >= 0 && (json < 0 || binary < json);
}

/** The vectors as one buffer of little-endian float32 rows; every row has the same width. */
export function vectorsToPackedFloat32(vectors: readonly Float32Array[]): { bytes: Uint8Array<ArrayBuffer>; dimensions: number } {
  const dimensions = vectors.length > 0 ? vectors[0].length : 0;
  const out = new Float32Array(vectors.length * dimensions);
  vectors.forEach((v, i) => out.set(v, i * dimensions));
  return { bytes: new Uint8Array(out.buffer), dimensions };
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
