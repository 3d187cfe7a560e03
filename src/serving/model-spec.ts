/**
 * Which models one process serves, and each one's options: from `--model` (one model as before,
 * or several, each `[name=]path[,option=value...]`) or from `--models-file` (YAML or JSON). A
 * per-model option is any model-level option of the config table, spelled as its flag without
 * the dashes (`device`, `sessions`, `max-batch-tokens`, ...), and overrides the server-wide value
 * for that model only; `max-concurrent` caps that model's share of --max-concurrent-requests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, OPTIONS, parseValue, type Config, type OptionKey, type OptionSpec } from '../config.js';

/** The embedded default model's name, as resolveModelDir reports it. */
export const DEFAULT_MODEL_ID = 'coalesce/wink-glove-100d';

/** Options that belong to one model (its files, its device, its batching); the rest are the server's. */
const MODEL_OPTIONS = [
  'revision',
  'onnxFile',
  'dtype',
  'pooling',
  'device',
  'sessions',
  'poolInGraph',
  'padSeqMultiple',
  'memPattern',
  'shapeBuckets',
  'shapeWarmup',
  'cudaGraphs',
  'cudaGraphTokens',
  'padBatchMultiple',
  'intraOpThreads',
  'maxBatchTokens',
  'maxBatchRequests',
  'batchQueue',
  'maxClientBatchSize',
  'maxInputLength',
  'autoTruncate',
  'tokenizationWorkers',
  'maxBatchImages',
  'imageWorkers',
  'jpegDecoder',
  'fuseAttention',
  'onnxVariant',
  'defaultPromptName',
  'defaultPrompt',
] as const satisfies readonly OptionKey[];

const SPECS = OPTIONS as unknown as Record<OptionKey, OptionSpec<unknown>>;
/** `device` -> 'device', `max-batch-tokens` -> 'maxBatchTokens': a model option by its flag's name. */
const BY_NAME = new Map<string, OptionKey>(MODEL_OPTIONS.map((k) => [SPECS[k].flag.replace(/^--/, ''), k]));
/** Keys of a model entry that are not config options. */
const OWN_KEYS = ['name', 'path', 'max-concurrent'] as const;

export interface ModelSpec {
  /** The served name: what OpenAI's `model`, the x-model header and /models/<name>/ select. */
  name: string;
  /** The model's effective config: the server's, with this model's options over it. */
  config: Config;
  /** This model's own limit of admitted requests (under the shared --max-concurrent-requests); null: none. */
  maxConcurrent: number | null;
  /** The per-model options given, as /info shows them. */
  options: Record<string, string>;
}

export interface ServedModels {
  models: ModelSpec[];
  /** Name of the model TEI routes and requests naming no model get. */
  defaultName: string;
}

function knownKeys(): string {
  return [...OWN_KEYS, ...BY_NAME.keys()].join(', ');
}

/** `BAAI/bge`, or `bge=BAAI/bge,device=cuda:0,cuda:1,sessions=2` as entries: a part without `=` continues the value before it. */
function parseEntry(entry: string, where: string): Record<string, string> {
  if (existsSync(entry)) return { path: entry };
  const fields: Record<string, string> = {};
  let last: string | null = null;
  entry.split(',').forEach((part, i) => {
    const eq = part.indexOf('=');
    const key = eq < 0 ? null : part.slice(0, eq).trim();
    if (i === 0 && (key === null || (!(OWN_KEYS as readonly string[]).includes(key) && !BY_NAME.has(key)))) {
      // The first part is the model itself: `path` or `name=path`.
      if (key === null) fields.path = part.trim();
      else {
        fields.name = key;
        fields.path = part.slice(eq + 1).trim();
      }
      last = 'path';
      return;
    }
    if (key === null) {
      if (last === null) throw new ConfigError(`${where}: '${part}' is not option=value`);
      fields[last] += `,${part.trim()}`;
      return;
    }
    fields[key] = part.slice(eq + 1).trim();
    last = key;
  });
  return fields;
}

/** Turns one model's fields into its spec; every key is checked and every value parsed as its flag's. */
function specOf(fields: Record<string, string>, config: Config, where: string, several: boolean): ModelSpec {
  const overrides: Partial<Record<OptionKey, unknown>> = {};
  const options: Record<string, string> = {};
  let maxConcurrent: number | null = null;
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'name' || key === 'path') continue;
    if (key === 'max-concurrent') {
      maxConcurrent = parseValue({ flag: 'max-concurrent', env: '', type: 'int', default: null, doc: '', min: 1 }, value, `${where} max-concurrent`) as number;
      options[key] = value;
      continue;
    }
    const option = BY_NAME.get(key);
    if (!option) {
      const serverWide = Object.values(SPECS).some((s) => s.flag === `--${key}`);
      throw new ConfigError(
        serverWide
          ? `${where}: --${key} is a server-wide option, not a model's; give it once, outside the model`
          : `${where}: unknown model option '${key}' (known: ${knownKeys()})`,
      );
    }
    overrides[option] = parseValue(SPECS[option], value, `${where} ${key}`);
    options[key] = value;
  }
  const path = fields.path === undefined || fields.path === '' ? null : fields.path;
  if (several && path === null) throw new ConfigError(`${where}: no model path (give path=<folder or Hub id>)`);
  const name = fields.name ?? (several ? null : config.servedModelName) ?? path ?? DEFAULT_MODEL_ID;
  if (several && (name === '' || /[\s;,]/.test(name)))
    throw new ConfigError(`${where}: the model name '${name}' must be non-empty, without spaces, commas or semicolons`);
  // One model keeps the config as given (its /info unchanged); several each get their name in it.
  const modelConfig = {
    ...config,
    ...overrides,
    model: path,
    modelsFile: null,
    servedModelName: several ? name : (fields.name ?? config.servedModelName),
  } as Config;
  return { name, config: modelConfig, maxConcurrent, options };
}

/** A models file's entries, each with its keys as strings (YAML and JSON numbers and booleans included). */
function readModelsFile(file: string): { entries: Record<string, string>[]; defaultName: string | null } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--models-file: cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`--models-file ${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  const root = Array.isArray(parsed) ? { models: parsed } : (parsed as { models?: unknown; default?: unknown } | null);
  if (!root || !Array.isArray(root.models) || root.models.length === 0) {
    throw new ConfigError(`--models-file ${file}: expected a list of models (or {default?, models: [...]}), each {name, path, ...options}`);
  }
  if (root.default !== undefined && typeof root.default !== 'string') throw new ConfigError(`--models-file ${file}: 'default' must be a model name`);
  const entries = root.models.map((m, i) => {
    if (typeof m === 'string') return parseEntry(m, `--models-file ${file} models[${i}]`);
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw new ConfigError(`--models-file ${file} models[${i}]: expected {name, path, ...options}`);
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(m)) {
      if (v === null || typeof v === 'object') throw new ConfigError(`--models-file ${file} models[${i}].${k}: expected a string, number or boolean`);
      // camelCase keys read as the flags' kebab-case.
      fields[k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)] = String(v);
    }
    return fields;
  });
  return { entries, defaultName: (root.default as string | undefined) ?? null };
}

/** The models to serve, in the order given; throws ConfigError on duplicate names, unknown options or bad values. */
export function servedModels(config: Config): ServedModels {
  let entries: { fields: Record<string, string>; where: string }[];
  let fileDefault: string | null = null;
  if (config.modelsFile) {
    const read = readModelsFile(config.modelsFile);
    entries = read.entries.map((fields, i) => ({ fields, where: `--models-file ${config.modelsFile} models[${i}]` }));
    fileDefault = read.defaultName;
  } else if (config.model === null) {
    entries = [{ fields: {}, where: '--model' }];
  } else {
    const given = existsSync(config.model) ? [config.model] : config.model.split(';').filter((m) => m.trim() !== '');
    entries = given.map((m) => ({ fields: parseEntry(m.trim(), `--model '${m.trim()}'`), where: `--model '${m.trim()}'` }));
  }
  const several = entries.length > 1 || config.modelsFile !== null;
  if (entries.length > 1 && config.servedModelName) {
    throw new ConfigError('--served-model-name names one model; with several models, name each one: --model <name>=<path>');
  }
  const models = entries.map(({ fields, where }) => specOf(fields, config, where, several));
  const seen = new Map<string, number>();
  models.forEach((m, i) => {
    if (seen.has(m.name)) {
      throw new ConfigError(`two models are named '${m.name}' (models ${seen.get(m.name)! + 1} and ${i + 1}): give each its own name (--model <name>=<path>)`);
    }
    seen.set(m.name, i);
  });
  const defaultName = config.defaultModel ?? fileDefault ?? models[0].name;
  if (!seen.has(defaultName)) {
    throw new ConfigError(
      `${config.defaultModel ? '--default-model' : '--models-file default'} '${defaultName}' is not a served model (served: ${models.map((m) => m.name).join(', ')})`,
    );
  }
  return { models, defaultName };
}
