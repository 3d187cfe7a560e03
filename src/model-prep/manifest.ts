import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { ModelError } from './model-error.js';
import { isPooling, type Pooling } from '../core/pooling.js';
import type { ModelKind, ProblemType } from '../core/model-kind.js';
import { resolveMaxInputLength } from '../settings.js';
import { readSafetensor } from './safetensors.js';
import type { Projection } from '../onnx-graph/append-task-heads.js';

/** Everything Coalesce reads from a model folder, before any session is created. */
export interface ModelManifest {
  dir: string;
  onnxPath: string;
  /** The ONNX file relative to the folder, as /info shows it. */
  onnxFile: string;
  tokenizerPath: string;
  tokenizerConfigPath: string | null;
  pooling: Pooling;
  /** A sentence-transformers Normalize module follows pooling. */
  normalize: boolean;
  maxLength: number;
  /** Hidden size from config.json, when it says; checked against the session's output. */
  hiddenSize: number | null;
  /** What the model computes (model-kind.ts), from config.json's architectures, the sentence-transformers modules and --pooling splade. */
  kind: ModelKind;
  /** A classifier's or reranker's labels in id order (config.json id2label); null for other kinds. */
  labels: string[] | null;
  /** How a classifier's logits become scores (config.json problem_type; single label when unset, as transformers). */
  problemType: ProblemType;
  /** The vocabulary size (config.json vocab_size): the width of a sparse model's vectors. */
  vocabSize: number | null;
  /** A multi-vector model's projection of token states (its sentence-transformers / PyLate Dense module). */
  projection: Projection | null;
}

export interface ManifestOptions {
  onnxFile?: string | null;
  pooling?: string | null;
  /** Caps the model's own limit; 0 or unset keeps it. */
  maxInputLength?: number;
}

/** Where optimum, sentence-transformers and transformers.js put the graph, in order of preference. */
export const ONNX_CANDIDATES = ['model.onnx', 'onnx/model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx'];

/** tokenizer_config.json says 1e30 when it does not know. */
const NO_LIMIT = 1_000_000;
/** RoBERTa-style models offset positions by the padding index. */
const POSITION_OFFSET_MODELS = new Set(['roberta', 'xlm-roberta', 'camembert', 'mpnet', 'longformer']);

function readJsonFile(dir: string, file: string, required: boolean, shape: 'object' | 'array'): unknown {
  const path = join(dir, file);
  if (!existsSync(path)) {
    if (required) throw new ModelError(path, 'is missing');
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ModelError(path, `is not valid JSON (${(e as Error).message})`);
  }
  const isArray = Array.isArray(value);
  if (typeof value !== 'object' || value === null || isArray !== (shape === 'array')) {
    throw new ModelError(path, `is not a JSON ${shape === 'array' ? 'list' : 'object'}`);
  }
  return value;
}

/** A model folder's JSON object file: null when absent (or ModelError when required), ModelError when malformed. */
export function readJson(dir: string, file: string, required = false): Record<string, unknown> | null {
  return readJsonFile(dir, file, required, 'object') as Record<string, unknown> | null;
}

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v < NO_LIMIT ? v : null;
}

interface StModule {
  type?: string;
  path?: string;
}

function poolingFromConfig(dir: string, path: string): Pooling {
  const file = join(path, 'config.json');
  const c = readJson(dir, file, true)!;
  if (typeof c.pooling_mode === 'string') {
    const mode = c.pooling_mode === 'lasttoken' ? 'last_token' : c.pooling_mode === 'cls_token' ? 'cls' : c.pooling_mode;
    if (isPooling(mode)) return mode;
    throw new ModelError(join(dir, file), `pooling_mode '${c.pooling_mode}' is not supported (mean, cls, max, lasttoken)`);
  }
  if (c.pooling_mode_mean_tokens) return 'mean';
  if (c.pooling_mode_cls_token) return 'cls';
  if (c.pooling_mode_max_tokens) return 'max';
  if (c.pooling_mode_lasttoken) return 'last_token';
  throw new ModelError(join(dir, file), 'names no pooling mode this server supports (mean, cls, max, lasttoken)');
}

/** Reads and checks a model folder. Throws ModelError naming the file at fault. */
export function readManifest(dir: string, options: ManifestOptions = {}): ModelManifest {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelError(dir, 'is not a model folder (it does not exist)');

  const onnxFile = options.onnxFile ?? ONNX_CANDIDATES.find((c) => existsSync(join(dir, c)));
  if (!onnxFile) throw new ModelError(dir, `holds no ONNX graph (looked for ${ONNX_CANDIDATES.join(', ')})`);
  const onnxPath = join(dir, onnxFile);
  if (!existsSync(onnxPath)) throw new ModelError(onnxPath, 'is missing');
  if (statSync(onnxPath).size === 0) throw new ModelError(onnxPath, 'is empty');

  const tokenizerPath = join(dir, 'tokenizer.json');
  const tokenizerJson = readJson(dir, 'tokenizer.json', true)!;
  if (typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
    throw new ModelError(tokenizerPath, 'has no "model" section: not a Hugging Face tokenizers file');
  }
  const tokenizerConfig = readJson(dir, 'tokenizer_config.json', false);
  const config = readJson(dir, 'config.json', false) ?? {};
  const stConfig = readJson(dir, 'sentence_bert_config.json', false);

  let pooling: Pooling = 'mean';
  let normalize = false;
  const modules = readJsonFile(dir, 'modules.json', false, 'array') as StModule[] | null;
  if (modules !== null) {
    for (const m of modules) {
      const type = m.type ?? '';
      if (type.endsWith('Pooling') && !type.endsWith('SpladePooling') && m.path !== undefined) pooling = poolingFromConfig(dir, m.path);
      if (type.endsWith('Normalize')) normalize = true;
    }
  }
  const splade = options.pooling === 'splade';
  if (options.pooling && !splade) {
    if (!isPooling(options.pooling)) throw new ModelError('--pooling', `'${options.pooling}' is not one of mean, cls, max, last_token, splade`);
    pooling = options.pooling;
  }
  const { kind, labels, projection } = detectKind(dir, config, modules ?? [], splade);
  const problemType =
    config.problem_type === 'multi_label_classification' || config.problem_type === 'regression' ? config.problem_type : 'single_label_classification';

  const positions = positiveInt(config.max_position_embeddings);
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  const ownLimit =
    positiveInt(stConfig?.max_seq_length) ??
    positiveInt(tokenizerConfig?.model_max_length) ??
    (positions !== null ? positions - (POSITION_OFFSET_MODELS.has(modelType) ? 2 : 0) : null) ??
    512;
  const maxLength = resolveMaxInputLength(options.maxInputLength ?? 0, ownLimit);

  return {
    dir,
    onnxPath,
    onnxFile: relative(dir, onnxPath) || basename(onnxPath),
    tokenizerPath,
    tokenizerConfigPath: tokenizerConfig ? join(dir, 'tokenizer_config.json') : null,
    pooling,
    normalize,
    maxLength,
    hiddenSize: positiveInt(config.hidden_size) ?? positiveInt(config.dim) ?? positiveInt(config.d_model),
    kind,
    labels,
    problemType,
    vocabSize: positiveInt(config.vocab_size),
    projection,
  };
}

/**
 * TEI's rules where TEI has the kind: `*ForSequenceClassification` is a reranker with one label and
 * a classifier with several; --pooling splade (or a sentence-transformers SpladePooling module) on a
 * `*ForMaskedLM` is a sparse model. A Dense module after the encoder with no Pooling before it
 * projects every token (ColBERT / PyLate layout): a multi-vector model.
 */
function detectKind(
  dir: string,
  config: Record<string, unknown>,
  modules: readonly StModule[],
  splade: boolean,
): { kind: ModelKind; labels: string[] | null; projection: Projection | null } {
  const architectures = Array.isArray(config.architectures) ? config.architectures.filter((a): a is string => typeof a === 'string') : [];
  const types = modules.map((m) => m.type ?? '');
  if (splade || types.some((t) => t.endsWith('SpladePooling'))) {
    if (!architectures.some((a) => a.endsWith('ForMaskedLM')) && architectures.length > 0) {
      throw new ModelError(join(dir, 'config.json'), `names ${architectures.join(', ')}: SPLADE needs a masked-language model (*ForMaskedLM)`);
    }
    return { kind: 'sparse', labels: null, projection: null };
  }
  if (architectures.some((a) => a.endsWith('ForSequenceClassification'))) {
    const labels = labelsOf(dir, config);
    return { kind: labels.length === 1 ? 'reranker' : 'classifier', labels, projection: null };
  }
  const dense = modules.findIndex((m) => (m.type ?? '').endsWith('Dense'));
  const pooled = modules.findIndex((m) => (m.type ?? '').endsWith('Pooling')); // SpladePooling returned above
  if (dense >= 0 && (pooled < 0 || pooled > dense)) {
    return { kind: 'multi-vector', labels: null, projection: readProjection(dir, modules[dense].path ?? '') };
  }
  return { kind: 'embedding', labels: null, projection: null };
}

function labelsOf(dir: string, config: Record<string, unknown>): string[] {
  const id2label = config.id2label;
  const count = positiveInt(config.num_labels);
  if (typeof id2label !== 'object' || id2label === null) {
    if (count === null) throw new ModelError(join(dir, 'config.json'), 'names a sequence classification model but has no id2label');
    return Array.from({ length: count }, (_, i) => `LABEL_${i}`);
  }
  const entries = Object.entries(id2label as Record<string, unknown>);
  const labels: string[] = new Array(entries.length);
  for (const [id, label] of entries) {
    const i = Number(id);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof label !== 'string') {
      throw new ModelError(
        join(dir, 'config.json'),
        `has an id2label entry ${JSON.stringify(id)}: ${JSON.stringify(label)} that is not a label of ids 0 to ${entries.length - 1}`,
      );
    }
    labels[i] = label;
  }
  return labels;
}

/** The Dense module's configuration and weights (model.safetensors: linear.weight [out, in], linear.bias). */
function readProjection(dir: string, path: string): Projection {
  const c = readJson(dir, join(path, 'config.json'), true)!;
  const inFeatures = positiveInt(c.in_features);
  const outFeatures = positiveInt(c.out_features);
  const file = join(dir, path, 'model.safetensors');
  if (inFeatures === null || outFeatures === null) throw new ModelError(join(dir, path, 'config.json'), 'has no in_features / out_features');
  const activation = typeof c.activation_function === 'string' ? c.activation_function : 'torch.nn.modules.linear.Identity';
  if (!/Identity$|Tanh$/.test(activation)) {
    throw new ModelError(join(dir, path, 'config.json'), `has activation ${activation}; Identity and Tanh are supported`);
  }
  if (!existsSync(file)) throw new ModelError(file, 'is missing (the projection weights; .bin files are not read)');
  const weight = readSafetensor(file, 'linear.weight');
  if (!weight || weight.data.length !== inFeatures * outFeatures) {
    throw new ModelError(file, `has no linear.weight of ${outFeatures} x ${inFeatures}`);
  }
  const bias = c.bias === false ? null : readSafetensor(file, 'linear.bias');
  if (bias && bias.data.length !== outFeatures) throw new ModelError(file, `has a linear.bias of ${bias.data.length}, not ${outFeatures}`);
  return { weight: weight.data, bias: bias?.data ?? null, inFeatures, outFeatures, activation: /Tanh$/.test(activation) ? 'tanh' : 'identity' };
}
