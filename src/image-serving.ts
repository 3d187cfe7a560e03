/**
 * Composition of the image path of an image-text model (CLIP, SigLIP), beside the text path that
 * server.ts builds: vision sessions (same device, same process) -> image batcher (its own budget,
 * --max-batch-images) -> ImageEmbedder (the text Embedder's Admission) -> zero-shot classifier.
 */
import { pixelBudgetShare } from './preprocess/pixel-budget.js';
import { UrlFetchPolicy } from './preprocess/url-guard.js';
import type { Config } from './config.js';
import { batchHook } from './batch-log.js';
import { Batcher } from './core/batcher.js';
import type { Embedder } from './core/embedder.js';
import { ImageEmbedder } from './core/image-embedder.js';
import type { PreprocessedImage } from './core/image-types.js';
import { ZeroShotClassifier } from './core/zero-shot.js';
import type { ModelInfo } from './core/types.js';
import type { VisionModelInfo } from './core/image-types.js';
import { DevicePool, startOnEach, type PoolMember } from './core/device-pool.js';
import { VisionBackend } from './backend/ort/vision-backend.js';
import type { VisionLanguageModel } from './model-prep/vision-language.js';
import type { Logger } from './log.js';
import type { ModelMetrics } from './metrics.js';
import { ImagePreprocessor } from './preprocess/image-loader.js';
import sharp from 'sharp';

export interface ImageServing {
  images: ImageEmbedder;
  classifier: ZeroShotClassifier;
  /** The vision sessions: one VisionBackend, or a pool of one per device group. */
  vision: PoolMember<PreprocessedImage> & { readonly info: VisionModelInfo };
  /** What /info shows about the image tower. */
  info(): Record<string, unknown>;
  /** Stops admitting images, waits for the queued ones. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export async function startImageServing(
  vl: VisionLanguageModel,
  config: Config,
  text: { backend: { info: ModelInfo; sessions: number }; embedder: Embedder; devices: readonly string[] },
  metrics: ModelMetrics,
  log: Logger,
): Promise<ImageServing> {
  const started = performance.now();
  // The image tower runs beside the text tower on each of its device groups, with as many sessions per group.
  const sessionsPerGroup = Math.max(1, Math.round(text.backend.sessions / text.devices.length));
  const startOn = (device: string) =>
    VisionBackend.start(
      vl.visionGraphPath,
      vl.visionSource,
      { height: vl.image.height, width: vl.image.width },
      { device, intraOpThreads: config.intraOpThreads, sessions: sessionsPerGroup, shapeBuckets: config.shapeBuckets, maxBatchImages: config.maxBatchImages },
    );
  const groups = text.devices.length === 1 ? [text.backend.info.device] : text.devices;
  const backends = await startOnEach(groups, startOn);
  const vision =
    backends.length === 1
      ? backends[0]
      : new DevicePool(
          backends.map((backend, i) => ({ device: groups[i], backend })),
          'the vision model',
          (device, reason, left) => log('a device of the vision model failed: taken out', { device, reason, devicesLeft: left }),
        );
  if (vision.info.dimensions !== text.backend.info.dimensions) {
    await vision.close();
    throw new Error(`the image tower outputs ${vision.info.dimensions} dimensions but the text tower ${text.backend.info.dimensions}: not one embedding space`);
  }
  const loader = await ImagePreprocessor.start(
    vl.image,
    { maxPixels: config.maxImagePixels, jpegDecoder: config.jpegDecoder, pixelBudget: pixelBudgetShare(config.maxDecodedPixels) },
    {
      allowUrlFetch: config.allowUrlFetch,
      fetchTimeoutMs: config.urlFetchTimeoutMs,
      fetchMaxBytes: config.urlFetchMaxBytes,
      policy: new UrlFetchPolicy(config.urlFetchAllow),
    },
    config.imageWorkers,
  ).catch(async (e) => {
    await vision.close();
    throw e;
  });
  const close = async () => {
    await loader.close();
    await vision.close();
  };
  const batcher = new Batcher<PreprocessedImage>(
    vision,
    {
      maxBatchTokens: config.maxBatchImages,
      maxBatchRequests: config.maxBatchImages,
      onBatch: batchHook(metrics.observeImageBatch, config.logBatches ? log : null, 'image'),
    },
    () => 1,
  );
  const images = new ImageEmbedder(
    vision.info,
    loader,
    batcher,
    { maxClientBatchSize: config.maxClientBatchSize, queueTimeoutMs: config.queueTimeoutMs },
    text.embedder.admission,
    metrics.requestObserver,
  );
  metrics.gauge('te_image_queue_size', 'Images waiting for a vision-model call', () => batcher.queued);
  const classifier = new ZeroShotClassifier(
    images,
    text.embedder,
    { kind: vl.scoring, scale: vl.logits.scale, bias: vl.logits.bias },
    config.maxClientBatchSize,
  );

  // Warm-up through the whole image path, as for text: /health waits for a real vision call.
  const probe = await sharp({ create: { width: vl.image.width, height: vl.image.height, channels: 3, background: { r: 127, g: 127, b: 127 } } })
    .png()
    .toBuffer();
  images.markReady(true);
  await images.embed({ inputs: [probe.toString('base64')], normalize: true }).catch(async (e) => {
    images.markReady(false);
    await close();
    throw e;
  });
  log('image tower loaded', {
    family: vl.family,
    layout: vl.layout,
    onnx: vl.visionSource,
    ...vl.visionRewrites,
    input: `${vl.image.height}x${vl.image.width} ${vision.info.inputType}`,
    output: vision.info.outputName,
    dimensions: vision.info.dimensions,
    sessions: vision.maxConcurrentBatches,
    imageWorkers: loader.workers,
    logitScale: Number(vl.logits.scale.toFixed(4)),
    logitBias: Number(vl.logits.bias.toFixed(4)),
    logits: vl.logits.source,
    ms: Math.round(performance.now() - started),
  });

  return {
    images,
    classifier,
    vision,
    info: () => ({
      family: vl.family,
      layout: vl.layout,
      text_onnx: vl.textSource,
      vision_onnx: vl.visionSource,
      vision_fused_attention: vl.visionRewrites.fusedAttention,
      vision_patch_matmul: vl.visionRewrites.patchMatMul,
      vision_skip_layer_norm: vl.visionRewrites.skipLayerNorm,
      vision_fast_gelu: vl.visionRewrites.fastGelu,
      vision_output: vision.info.outputName,
      vision_input: [3, vl.image.height, vl.image.width],
      vision_input_type: vision.info.inputType,
      text_padding: vl.textPadding,
      preprocessing: vl.image,
      scoring: vl.scoring,
      logit_scale: vl.logits.scale,
      logit_bias: vl.logits.bias,
      logit_source: vl.logits.source,
      max_batch_images: config.maxBatchImages,
      image_workers: loader.workers,
      vision_sessions: vision.maxConcurrentBatches,
      vision_warmup: vision.info.warmup,
      url_fetch: config.allowUrlFetch,
    }),
    drain: () => images.drain(),
    close,
  };
}
