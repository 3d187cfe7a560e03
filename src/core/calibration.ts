/**
 * int8/uint8 calibration: the built-in texts (calibration-texts.ts) embedded once, through the
 * facade like any request, keeping the raw full-width vectors (quantization-ranges.ts shapes them
 * per request). Sequential chunks stay within the request limits the server was started with.
 */
import { CALIBRATION_TEXTS } from './calibration-texts.js';
import type { EmbedRequest, EmbedResponse } from './embedder.js';
import { QuantizationRanges } from './quantization-ranges.js';

export async function calibrate(
  embed: (request: EmbedRequest) => Promise<EmbedResponse>,
  maxClientBatchSize: number,
  texts: readonly string[] = CALIBRATION_TEXTS,
): Promise<QuantizationRanges> {
  const chunk = Math.max(1, Math.min(maxClientBatchSize, 64));
  const vectors: Float32Array[] = [];
  for (let at = 0; at < texts.length; at += chunk) {
    const result = await embed({ inputs: texts.slice(at, at + chunk), normalize: false, truncate: true });
    // Copies: the facade's vectors may view a whole batch's buffer.
    for (const v of result.vectors) vectors.push(Float32Array.from(v));
  }
  return QuantizationRanges.calibrated(vectors);
}
