/**
 * What the server says about the model it serves, built in one place for HTTP /info,
 * tei.v1.Info and coalesce.v1.ModelInfo. A field added here shows in /info at once, and in a
 * gRPC answer as soon as its message declares a field of that name (protobufjs encodes the
 * fields a message declares and ignores the rest).
 */
import { existsSync } from 'node:fs';
import { publicConfig, type Config } from './config.js';
import { resolveTokenizationWorkers, type Settings } from './settings.js';
import type { ModelInfo, ServedModelInfo, WarmupState } from './core/types.js';
import { VERSION } from './version.js';

export interface ModelInfoSources {
  config: Config;
  /** The model as resolved (a Hub id or a folder), and the folder it was read from. */
  id: string;
  dir: string;
  /** What the backend reports about the model it runs. */
  model: ModelInfo;
  /**
   * The model's pooling (1_Pooling or --pooling), also when the graph itself pools; an image-text
   * model's text tower declares none: it pools its own way, in the graph.
   */
  pooling: string;
  /** The model's prompts by name (config_sentence_transformers.json or --prompts). */
  prompts: Readonly<Record<string, string>>;
  /** The text backend's facts that /info shows. */
  backend: { sessions: number; removesPadding: boolean; warmup: () => WarmupState; notes: readonly string[] };
  batchQueue: 'shared' | 'main';
  /** The image path of an image-text model; null for text models. */
  images: { info(): Record<string, unknown> } | null;
  /** Where HTTP is served (main thread or threads). */
  http: string;
  /** What each auto / 0 of the config became on this device (src/settings.ts). */
  settings: Settings;
}

export function servedModelName(config: Config, id: string): string {
  return config.servedModelName ?? id;
}

/** TEI's model_sha: the Hub revision when the model came from the Hub, null for a local folder. */
function modelSha(config: Config): string | null {
  return config.model && !existsSync(config.model) ? config.revision : null;
}

/** TEI's model_type: {embedding: {pooling}}, {reranker: {id2label, label2id}} or {classifier: {...}}; Coalesce's other kinds alike. */
function modelType(model: ModelInfo, pooling: string): Record<string, unknown> {
  if (model.labels) {
    const id2label = Object.fromEntries(model.labels.map((l, i) => [String(i), l]));
    const label2id = Object.fromEntries(model.labels.map((l, i) => [l, i]));
    return { [model.kind]: { id2label, label2id } };
  }
  if (model.kind === 'sparse') return { embedding: { pooling: 'splade' } };
  return { [model.kind === 'multi-vector' ? 'multi_vector' : 'embedding']: { pooling } };
}

/** The model's description, read anew at every call (the image path's facts can change while serving). */
export function modelInfo({ config, id, dir, model, pooling, prompts, backend, batchQueue, images, http, settings }: ModelInfoSources): () => ServedModelInfo {
  return () => ({
    // TEI 1.9's Info fields first, with TEI's meanings; Coalesce's own after them.
    model_id: id,
    model_sha: modelSha(config),
    model_dtype: settings.dtype,
    model_type: modelType(model, pooling),
    max_concurrent_requests: config.maxConcurrentRequests,
    max_input_length: model.maxInputLength,
    max_batch_tokens: config.maxBatchTokens,
    max_batch_requests: config.maxBatchRequests,
    max_client_batch_size: config.maxClientBatchSize,
    auto_truncate: config.autoTruncate,
    tokenization_workers: resolveTokenizationWorkers(config.tokenizationWorkers),
    version: VERSION,
    sha: null,
    docker_label: null,
    served_model_name: servedModelName(config, id),
    prompts: Object.keys(prompts).length > 0 ? prompts : null,
    model_dir: dir,
    kind: model.kind,
    dimensions: model.dimensions,
    // The model's pooling, as model_type says; pooling_in_graph says where it runs.
    pooling,
    normalized_by_model: model.normalizedByModel,
    device: model.device,
    execution_provider: model.provider,
    sessions: backend.sessions,
    batch_queue: batchQueue,
    pooling_in_graph: model.outputKind === 'pooled',
    padding_removed_in_graph: backend.removesPadding,
    // Shape buckets: 'background' while shapes still warm between batches (--shape-warmup background).
    warmup: backend.warmup(),
    // What the session threads decided at load and why (CPU fallback, host pooling, --cuda-graphs).
    session_notes: backend.notes,
    onnx_file: model.onnxFile,
    inputs: model.inputNames,
    output: model.outputName,
    modalities: images ? ['text', 'image'] : ['text'],
    ...(images ? { image: images.info() } : {}),
    http,
    config: publicConfig(config),
    resolved: settings,
  });
}
