/** Fast response encodings for vectors. */
import type { EncodedVector, Encoding } from '../../core/quantize.js';
import { base64Of, intsJson } from '../vector-encodings.js';
import { vectorToJsonString } from './float-json.js';

/** One encoded vector as JSON: floats, a base64 string of its bytes, or integers (int8, uint8, binary, ubinary). */
export function encodedVectorJson(v: EncodedVector, encoding: Encoding): string {
  if (encoding === 'base64') return JSON.stringify(base64Of(v));
  return v instanceof Float32Array ? vectorToJsonString(v) : intsJson(v);
}

/** OpenAI's response body: one embedding object per vector, in the encoding asked for (encodeVectors gave it). */
export function openaiListBody(vectors: readonly EncodedVector[], format: Encoding, model: string, promptTokens: number): string {
  const data = vectors.map((v, index) => `{"object":"embedding","index":${index},"embedding":${encodedVectorJson(v, format)}}`);
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
