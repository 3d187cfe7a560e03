import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { ModelError } from './model-error.js';
import { isPooling, type Pooling } from '../core/pooling.js';
import { resolveMaxInputLength } from '../settings.js';

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
      if (type.endsWith('Pooling') && m.path !== undefined) pooling = poolingFromConfig(dir, m.path);
      if (type.endsWith('Normalize')) normalize = true;
    }
  }
  if (options.pooling) {
    if (!isPooling(options.pooling)) throw new ModelError('--pooling', `'${options.pooling}' is not one of mean, cls, max, last_token`);
    pooling = options.pooling;
  }

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
  };
}
