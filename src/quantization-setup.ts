/**
 * The server's int8/uint8 ranges, settled at start: from --quantization-ranges, or by embedding
 * the built-in calibration texts once the model is warm (--quantization-calibration), or none.
 */
import { readFileSync } from 'node:fs';
import type { Config } from './config.js';
import { calibrate } from './core/calibration.js';
import type { Embedder } from './core/embedder.js';
import { QuantizationRanges } from './core/quantization-ranges.js';
import type { Logger } from './log.js';

export async function startQuantization(config: Config, embedder: Pick<Embedder, 'embed' | 'info'>, log: Logger): Promise<QuantizationRanges | null> {
  if (config.quantizationRanges) {
    const file = config.quantizationRanges;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`--quantization-ranges ${file}: ${(e as Error).message}`);
    }
    return QuantizationRanges.fromFile(json, file, embedder.info.dimensions);
  }
  if (!config.quantizationCalibration) return null;
  const started = performance.now();
  const ranges = await calibrate((request) => embedder.embed(request), config.maxClientBatchSize);
  log('quantization ranges calibrated', { texts: ranges.summary().texts, ms: Math.round(performance.now() - started) });
  return ranges;
}

/** /info with the ranges' summary added (null: none). */
export function withQuantization<T extends object>(info: () => T, ranges: QuantizationRanges | null): () => T & { quantization: unknown } {
  const summary = ranges?.summary() ?? null;
  return () => ({ ...info(), quantization: summary });
}
