/**
 * Loading one served model, in two steps so that a memory budget can be checked across all models
 * before any of them loads: prepareModel resolves its files (Hub download, image-text split,
 * manifest) and estimates its weights per device; startModel loads it on each device group
 * (warm-up included) and composes its queue, facade and image path into a ServedModel.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { resolveModelFiles, resolveSettings, resolveTokenizationWorkers, type Settings } from '../settings.js';
import { batchHook } from '../batch-log.js';
import { Admission } from '../core/admission.js';
import { Batcher, type BatcherLimits } from '../core/batcher.js';
import { DevicePool, startOnEach } from '../core/device-pool.js';
import { SharedTextQueue } from '../core/shared-queue/shared-text-queue.js';
import { Embedder } from '../core/embedder.js';
import { combinedWarmup, type Backend, type EncodedText, type ServedModelInfo } from '../core/types.js';
import { readManifest, type ModelManifest } from '../model-prep/manifest.js';
import { servedManifest } from '../model-prep/quantized-graph.js';
import { readModelPrompts } from '../model-prep/st-prompts.js';
import { Prompts } from '../core/prompts.js';
import { isVisionLanguageFolder, prepareVisionLanguage, type VisionLanguageModel } from '../model-prep/vision-language.js';
import { startImageServing, type ImageServing } from '../image-serving.js';
import { OrtBackend } from '../backend/ort/ort-backend.js';
import { parseDeviceGroups } from '../backend/ort/device.js';
import type { Logger } from '../log.js';
import type { ModelMetrics } from '../metrics.js';
import { resolveModelDir } from '../models/resolve.js';
import { HfTokenizer, InlineTextEncoder } from '../preprocess/tokenizer.js';
import { TokenizerPool } from '../preprocess/tokenizer-pool.js';
import type { ArrivalEncoderSpec } from '../preprocess/arrival-encoder.js';
import { modelInfo } from '../model-info.js';
import type { ModelSpec } from './model-spec.js';
import { startMemoryMeasure, weightBytes, type MeasuredMemory, type Placement } from './device-memory.js';

import type { ModelKind } from '../core/model-kind.js';
import type { QuantizationRanges } from '../core/quantization-ranges.js';
import { startQuantization, withQuantization } from '../quantization-setup.js';
import { warmUp } from './warm-up.js';

/** The one-line description of a model that /v1/models, /info's `models` and the start log give. */
export interface ModelSummary {
  name: string;
  kind: ModelKind;
  model_id: string;
  modalities: readonly string[];
  dimensions: number;
  device: string;
  /** Per device group: whether it still runs batches (a failed one is taken out). */
  devices: readonly { device: string; live: boolean; failure?: string }[];
  sessions: number;
  /** Weights estimated from the files before loading, and what loading took as measured after warm-up. */
  memory: { estimated_bytes: number; measured_bytes: number | null; measured_by: MeasuredMemory['source'] };
  max_concurrent: number | null;
  default: boolean;
}

/** One model of the process, with everything the transports call and what closes it. */
export interface ServedModel {
  readonly name: string;
  readonly kind: ModelKind;
  readonly embedder: Embedder;
  /** The image path of an image-text model (CLIP, SigLIP); null for text models. */
  readonly images: ImageServing | null;
  /** int8/uint8 ranges of an embedding model (calibrated at start, or --quantization-ranges); null: none. */
  readonly quantization: QuantizationRanges | null;
  /** Its prompt names, which Cohere's `input_type` may pick. */
  readonly promptNames: readonly string[];
  /** The model calls: one device group's backend, or a pool of one per group. */
  readonly backend: Backend & { readonly sessions: number };
  /** The model's full description (/info, tei.v1.Info, coalesce.v1.ModelInfo). */
  readonly info: () => ServedModelInfo;
  readonly summary: () => ModelSummary;
  /** Loaded, warm, not draining, and at least one device group still live. */
  readonly ready: () => boolean;
  /** The text tokenizer, for HTTP threads to encode plain ASCII text where it arrives (null: no fast path). */
  readonly arrival: ArrivalEncoderSpec | null;
  /** Stops admitting, waits for what was admitted. */
  drain(): Promise<void>;
  /** Releases the tokenizer workers, the image path and the sessions. */
  close(): Promise<void>;
}

export interface PreparedModel {
  spec: ModelSpec;
  dir: string;
  id: string;
  vl: VisionLanguageModel | null;
  manifest: ModelManifest;
  devices: string[];
  /** The weights this model will hold on each of its devices, before loading. */
  placements: Placement[];
}

/** Sessions a device group will run, before its provider is known: --sessions, else the CUDA or CPU default. */
function expectedSessions(config: Config, device: string): number {
  if (config.sessions > 0) return config.sessions;
  return device.startsWith('cuda') ? 2 : 1;
}

export async function prepareModel(spec: ModelSpec, log: Logger): Promise<PreparedModel> {
  const { config } = spec;
  const devices = config.device === 'auto' ? ['auto'] : parseDeviceGroups(config.device);
  const { dir, id } = await resolveModelDir(config, log);
  // An image-text model: the text path serves its text tower (a graph whose one output is text_embeds).
  const isVl = isVisionLanguageFolder(dir);
  const files = resolveModelFiles(config, isVl, (f) => existsSync(join(dir, f)));
  const vl = isVl ? await prepareVisionLanguage(dir, { variant: files.onnxVariant, onnxFile: files.onnxFile, fuseAttention: config.fuseAttention }) : null;
  const textManifest = readManifest(dir, { onnxFile: vl ? vl.textFile : files.onnxFile, pooling: config.pooling, maxInputLength: config.maxInputLength });
  const quantized = servedManifest(vl ? { ...textManifest, onnxPath: vl.textGraphPath, onnxFile: vl.textSource } : textManifest, config.quantize, isVl);
  const manifest = quantized.manifest;
  if (quantized.note) log(quantized.note);
  if (config.maxBatchTokens < manifest.maxLength) {
    throw new Error(`--max-batch-tokens ${config.maxBatchTokens} is below the max input length ${manifest.maxLength}: a full-length input could never run`);
  }
  const perCopy = weightBytes(manifest.onnxPath) + (vl ? weightBytes(vl.visionGraphPath) : 0);
  const placements = devices.map((device) => ({ model: spec.name, device, bytes: perCopy * expectedSessions(config, device) }));
  return { spec, dir, id, vl, manifest, devices, placements };
}

export interface ModelShared {
  /** The server's admission (--max-concurrent-requests), which every model's requests also count against. */
  admission: Admission;
  metrics: ModelMetrics;
  log: Logger;
  /** Where HTTP is served, for /info. */
  http: string;
  isDefault: boolean;
}

export async function startModel(prepared: PreparedModel, shared: ModelShared): Promise<ServedModel> {
  const { spec, dir, id, vl, manifest, devices } = prepared;
  const { config, name } = spec;
  const { log, metrics } = shared;
  const measure = startMemoryMeasure(devices);
  const modelPrompts = readModelPrompts(dir);
  const prompts = Prompts.from({
    prompts: modelPrompts.prompts,
    modelDefaultPromptName: modelPrompts.defaultPromptName,
    defaultPromptName: config.defaultPromptName,
    defaultPrompt: config.defaultPrompt,
  });
  const tokenizerFiles = { tokenizerPath: manifest.tokenizerPath, configPath: manifest.tokenizerConfigPath, maxLength: manifest.maxLength };
  const tokenizationWorkers = resolveTokenizationWorkers(config.tokenizationWorkers);
  const encoder: TokenizerPool | InlineTextEncoder =
    tokenizationWorkers > 0
      ? await TokenizerPool.start(tokenizerFiles, tokenizationWorkers)
      : new InlineTextEncoder(HfTokenizer.fromFiles(tokenizerFiles.tokenizerPath, tokenizerFiles.configPath, tokenizerFiles.maxLength));
  // HTTP threads encode plain ASCII text for a BERT tokenizer themselves (arrival-encoder.ts) with these.
  const specialIds = encoder.specialIds();

  const loadStart = performance.now();
  const startOn = (device: string) =>
    OrtBackend.start(id, manifest, {
      device,
      intraOpThreads: config.intraOpThreads,
      sessions: config.sessions,
      poolInGraph: config.poolInGraph,
      seqMultiple: config.padSeqMultiple,
      batchMultiple: config.padBatchMultiple,
      memPattern: config.memPattern,
      shapeBuckets: config.shapeBuckets,
      warmupTokens: config.maxBatchTokens,
      warmupRows: config.maxBatchRequests,
      shapeWarmup: config.shapeWarmup,
      cudaGraphs: config.cudaGraphs,
      cudaGraphTokens: config.cudaGraphTokens,
    });
  let markUnready = () => {};
  const groups = await startOnEach(devices, startOn).catch(async (e: unknown) => {
    await encoder.close();
    throw e;
  });
  const first = groups[0];
  const pool =
    groups.length > 1
      ? new DevicePool(
          groups.map((backend, i) => ({ device: devices[i], backend })),
          `model ${name}`,
          (device, reason, left) => {
            log('a device failed: taken out, its batches retried on the others', { model: name, device, reason, devicesLeft: left });
            // No device left: the model is unhealthy (/health 503, gRPC health NOT_SERVING).
            if (left === 0) markUnready();
          },
        )
      : null;
  const sessions = groups.reduce((n, g) => n + g.sessions, 0);
  const backend: Backend & { sessions: number } = pool ? Object.assign(pool, { sessions }) : first;
  const info = backend.info;
  for (const note of first.notes) log(note);
  log('model loaded', {
    name,
    model: id,
    dir,
    onnx: info.onnxFile,
    device: info.device,
    provider: info.provider,
    sessions,
    dimensions: info.dimensions,
    maxInputLength: info.maxInputLength,
    kind: info.kind,
    pooling: info.pooling,
    poolingInGraph: first.pooledInGraph,
    paddingRemovedInGraph: first.removesPadding,
    warmedShapes: first.warmup.shapes,
    warmupMs: Math.round(Math.max(...groups.map((g) => g.warmup.ms))),
    output: info.outputName,
    ms: Math.round(performance.now() - loadStart),
  });

  const limits = {
    maxBatchTokens: config.maxBatchTokens,
    maxBatchRequests: config.maxBatchRequests,
    onBatch: batchHook(metrics.observeBatch, config.logBatches ? log : null, 'text'),
  };
  const settings = withBatchQueue(
    resolveSettings(config, { provider: info.provider === 'cuda' ? 'cuda' : 'cpu', modelMaxLength: info.maxInputLength }),
    config,
    groups.length,
  );
  // The shared queue carries one dense vector per input; the other kinds' rows differ in width.
  const sharedQueue = settings.batchQueue === 'shared' && info.kind === 'embedding';
  const queue = sharedQueue ? new SharedTextQueue(info.maxInputLength, info.padded, limits) : new Batcher(backend, limits);
  // Every device group's sessions take from the one queue: data parallel (no failover on this path: see withBatchQueue).
  if (queue instanceof SharedTextQueue) for (const g of groups) g.takeFrom(queue);
  const tokenStates = info.kind === 'embedding' ? tokenStatesQueue(groups, devices, name, limits) : null;
  const admission = new Admission(spec.maxConcurrent ?? Number.POSITIVE_INFINITY, shared.admission, `max-concurrent of model ${name}`);
  const embedder = new Embedder(
    info,
    encoder,
    queue,
    { maxClientBatchSize: config.maxClientBatchSize, autoTruncate: config.autoTruncate, prompts, queueTimeoutMs: config.queueTimeoutMs, tokenStates },
    admission,
    metrics.requestObserver,
  );
  markUnready = () => embedder.markReady(false);
  // A session thread that died and could not be replaced: with one device group the model cannot
  // serve (/health and gRPC health say so); with several, the pool takes the group out on its next batch.
  for (const g of groups)
    g.onFailure((e) => {
      log('a device group can no longer serve', { model: name, error: e.message });
      if (!pool) markUnready();
    });
  metrics.gauge('te_queue_size', 'Inputs waiting for a model call', () => queue.queued);
  metrics.gauge('te_requests_in_progress', 'Admitted requests', () => embedder.admission.inUse);

  let images: ImageServing | null = null;
  /** Nothing may outlive a failed start or a close: the tokenizer workers, the image path, the model. */
  const release = async () => {
    embedder.markReady(false);
    await encoder.close();
    await images?.close();
    await backend.close();
  };
  const failStart = async (e: unknown): Promise<never> => {
    await release();
    throw e;
  };

  // Warm-up through the whole path: /health turns 200 only after a real model call succeeded.
  embedder.markReady(true);
  await warmUp(embedder).catch(failStart);
  // Calibration embeds texts: only a dense embedding model has ranges to quantize with.
  const quantization = info.kind === 'embedding' ? await startQuantization(config, embedder, log).catch(failStart) : null;

  images = vl ? await startImageServing(vl, config, { backend, embedder, devices }, metrics, log).catch(failStart) : null;
  const memory = measure();
  const estimated = prepared.placements.reduce((sum, p) => sum + p.bytes, 0);

  const described = modelInfo({
    config,
    id,
    dir,
    model: info,
    pooling: vl ? info.pooling : manifest.pooling,
    prompts: prompts.prompts,
    batchQueue: sharedQueue ? 'shared' : 'main',
    images,
    http: shared.http,
    settings,
    backend: { sessions, removesPadding: first.removesPadding, warmup: () => combinedWarmup(groups.map((g) => g.warmupState())), notes: first.notes },
  });
  const full = withQuantization(described, quantization);
  const summary = (): ModelSummary => ({
    name,
    kind: info.kind,
    model_id: id,
    modalities: images ? ['text', 'image'] : ['text'],
    dimensions: info.dimensions,
    device: info.device,
    devices: pool
      ? pool.devices.map(({ device, live, failure }) => ({ device, live, ...(failure ? { failure } : {}) }))
      : [{ device: info.device, live: true }],
    sessions,
    memory: { estimated_bytes: estimated, measured_bytes: memory.bytes, measured_by: memory.source },
    max_concurrent: spec.maxConcurrent,
    default: shared.isDefault,
  });
  return {
    name,
    kind: info.kind,
    embedder,
    images,
    quantization,
    promptNames: Object.keys(prompts.prompts),
    backend,
    info: () => ({ ...full(), device_groups: summary().devices, memory: summary().memory }),
    summary,
    ready: () => embedder.isReady && (pool?.healthy ?? true),
    arrival: specialIds ? { ...tokenizerFiles, ...specialIds } : null,
    drain: async () => {
      await images?.drain();
      await embedder.drain();
    },
    close: release,
  };
}

/**
 * /embed_all's queue for an embedding model: its own batcher, whose model calls (on the same
 * sessions as the pooled ones) answer token states; null when the graph has none.
 */
function tokenStatesQueue(groups: readonly OrtBackend[], devices: readonly string[], name: string, limits: BatcherLimits): Batcher<EncodedText> | null {
  const views = groups.map((g) => g.tokenStates());
  if (views.some((v) => v === null)) return null;
  const members = views as NonNullable<(typeof views)[number]>[];
  const backend =
    members.length > 1
      ? new DevicePool(
          members.map((b, i) => ({ device: devices[i], backend: b })),
          `token states of model ${name}`,
        )
      : members[0];
  return new Batcher(backend, limits);
}

/**
 * --batch-queue auto with several device groups: the main thread's batcher, whose device pool
 * takes a failed device out and retries its batches elsewhere. The shared queue (asked for by
 * name) also spreads batches over every group's sessions, but a failed session fails the model.
 */
function withBatchQueue(settings: Settings, config: Config, groups: number): Settings {
  return groups > 1 && config.batchQueue === 'auto' ? { ...settings, batchQueue: 'main' } : settings;
}
