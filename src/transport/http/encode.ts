/** Fast response encodings for vectors. */
import { vectorToBase64 } from '../packed-float32.js';
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
