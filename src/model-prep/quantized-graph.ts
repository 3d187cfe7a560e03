/**
 * --quantize dynamic-int8: the model's float32 graph with its constant-weight MatMuls quantized
 * (onnx-graph/quantize-matmul.ts), written once to the prepared-graph cache and served in place
 * of the source file. Later starts read the cached file (keyed by the source's path, size and time).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ModelManifest } from './manifest.js';
import { ModelError } from './model-error.js';
import { cachePath, defaultCacheDir, writeOnce } from './graph-cache.js';
import { decodeModel, encodeModel, type ModelProto } from '../onnx-graph/onnx-proto.js';
import { hasExternalData } from '../onnx-graph/serving-graph.js';
import { quantizeDynamicMatMul } from '../onnx-graph/quantize-matmul.js';

export type Quantize = 'none' | 'dynamic-int8' | 'dynamic-int8-per-channel';

/** What the preparation is, as part of the cache key: a change here never reuses an older file. */
const preparation = (perChannel: boolean) => `dynamic-int8-matmul/${perChannel ? 'per-channel' : 'per-tensor'}/v1`;

export interface QuantizedGraph {
  manifest: ModelManifest;
  /** MatMuls quantized, and the float ones left (their right-hand side is not a constant weight). */
  quantized: number;
  leftFloat: number;
  /** The file came from the cache rather than being rewritten now. */
  cached: boolean;
}

function load(path: string): ModelProto {
  let model: ModelProto;
  try {
    model = decodeModel(readFileSync(path));
  } catch (e) {
    throw new ModelError(path, `cannot be read as ONNX to quantize it (${(e as Error).message})`);
  }
  if (hasExternalData(model)) throw new ModelError(path, 'keeps its weights in external data files, which --quantize cannot rewrite in memory');
  return model;
}

/** The manifest with its graph quantized; ModelError when there is nothing to quantize. */
export function quantizeManifest(manifest: ModelManifest, options: { perChannel?: boolean; cacheDir?: string } = {}): QuantizedGraph {
  const perChannel = options.perChannel ?? false;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const target = cachePath(cacheDir, manifest.onnxPath, preparation(perChannel));
  const note = cachePath(cacheDir, manifest.onnxPath, preparation(perChannel), 'json');
  let counts: { quantized: number; leftFloat: number } | null = null;
  if (existsSync(target) && existsSync(note)) {
    try {
      counts = JSON.parse(readFileSync(note, 'utf8')) as { quantized: number; leftFloat: number };
    } catch {
      counts = null; // a damaged note: quantize again (writeOnce keeps the graph file)
    }
  }
  const served = (quantized: number, leftFloat: number, cached: boolean): QuantizedGraph => ({
    manifest: { ...manifest, onnxPath: target },
    quantized,
    leftFloat,
    cached,
  });
  if (counts) return served(counts.quantized, counts.leftFloat, true);

  const result = quantizeDynamicMatMul(load(manifest.onnxPath), { perColumn: perChannel });
  if (result.quantized === 0) {
    throw new ModelError(
      manifest.onnxPath,
      `has no MatMul with a constant float32 weight for --quantize to quantize (it may be quantized or float16 already); serve it without --quantize`,
    );
  }
  writeOnce(target, () => encodeModel(result.model));
  writeOnce(note, () => JSON.stringify({ quantized: result.quantized, leftFloat: result.skipped }));
  return served(result.quantized, result.skipped, false);
}

/** The manifest to serve under --quantize, with a line saying what was done; image-text models are refused. */
export function servedManifest(manifest: ModelManifest, quantize: Quantize, imageText: boolean): { manifest: ModelManifest; note: string | null } {
  if (quantize === 'none') return { manifest, note: null };
  if (imageText) throw new ModelError(manifest.dir, `--quantize ${quantize} serves text models; for an image-text model use --dtype int8 (its int8 towers)`);
  const q = quantizeManifest(manifest, { perChannel: quantize === 'dynamic-int8-per-channel' });
  const how = q.cached ? 'from the prepared-graph cache' : 'now, and cached';
  return {
    manifest: q.manifest,
    note: `--quantize ${quantize}: ${q.quantized} MatMuls of ${manifest.onnxFile} run in int8 (${how}: ${q.manifest.onnxPath}); ${q.leftFloat} stay float`,
  };
}
