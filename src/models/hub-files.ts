/**
 * Which files of a Hub repository Coalesce downloads. Pure: works on the repository's file list
 * (the `siblings` of the Hub API), so the choice is tested without a network.
 */
import { ONNX_CANDIDATES } from '../model-prep/manifest.js';
import { dtypeGraphs, dtypeVariants } from '../settings.js';
import type { Config } from '../config.js';
import { HubError } from './hub-errors.js';

/** Tokenizer, model and sentence-transformers configuration, each fetched when the repo has it. */
export const CONFIG_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'config.json',
  'special_tokens_map.json',
  'modules.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
  'preprocessor_config.json',
] as const;

/** Graph variants transformers.js repos ship, in the order Coalesce prefers them when only towers exist. */
const TOWER_VARIANTS = ['', '_fp16', '_quantized'];

export interface OnnxChoice {
  /** The graph readManifest will load; null when the repo only has image/text towers. */
  graph: string | null;
  /** Every ONNX file to fetch, in download order; the graph comes last, so its presence means the rest is there. */
  files: string[];
}

/** Lists a few names for an error message without burying it. */
export function listForMessage(files: readonly string[], max = 30): string {
  if (files.length === 0) return '(none)';
  const shown = files.slice(0, max).join(', ');
  return files.length > max ? `${shown} (and ${files.length - max} more)` : shown;
}

/** External data of a graph: `<graph>_data`, `<graph>.data`, and numbered shards of either. */
function externalDataOf(graph: string, siblings: readonly string[]): string[] {
  return siblings.filter((f) => f.startsWith(graph) && /^(?:_data|\.data)(?:_\d+)?$/.test(f.slice(graph.length))).sort();
}

/** `onnx/model_fp16.onnx` -> `_fp16`; the variant a transformers.js repo uses for its towers too. */
function variantOf(graph: string): string | null {
  const m = /(?:^|\/)(?:vision_|text_)?model([^/]*)\.onnx$/.exec(graph);
  return m ? m[1] : null;
}

function towersOf(variant: string, present: ReadonlySet<string>): string[] {
  return [`onnx/vision_model${variant}.onnx`, `onnx/text_model${variant}.onnx`].filter((f) => present.has(f));
}

export interface RepoDescription {
  id: string;
  revision: string;
  endpoint: string;
}

/**
 * Picks the ONNX graph (and its external data and image/text towers): --onnx-file, else what
 * --dtype asks for (float16, int8: settings.ts dtypeGraphs / dtypeVariants), else the default
 * candidates. Throws HubError when there is nothing to run.
 */
export function chooseOnnxFiles(siblings: readonly string[], onnxFile: string | null, repo: RepoDescription, dtype: Config['dtype'] = null): OnnxChoice {
  const present = new Set(siblings);
  const onnxFiles = siblings.filter((f) => f.endsWith('.onnx'));
  const where = `model ${repo.id} (revision ${repo.revision}) on ${repo.endpoint}`;

  let graph: string | null = null;
  let towers: string[] = [];
  const graphs = onnxFile === null ? dtypeGraphs(dtype) : null;
  if (graphs !== null) {
    graph = graphs.find((g) => present.has(g)) ?? null;
    if (graph !== null) towers = towersOf(variantOf(graph) ?? '', present);
    else towers = (dtypeVariants(dtype) ?? []).map((v) => towersOf(`_${v}`, present)).find((t) => t.length > 0) ?? [];
    if (graph === null && towers.length === 0) {
      throw new HubError(`--dtype ${dtype}: ${where} has none of ${graphs.join(', ')}. Its ONNX files: ${listForMessage(onnxFiles)}`);
    }
  } else if (onnxFile !== null) {
    const wanted = onnxFile.replace(/^\.\//, '');
    if (!present.has(wanted)) {
      throw new HubError(`--onnx-file ${onnxFile} is not a file of ${where}; its ONNX files: ${listForMessage(onnxFiles)}`);
    }
    graph = wanted;
    const variant = variantOf(wanted);
    if (variant !== null) towers = towersOf(variant, present).filter((t) => t !== wanted);
  } else {
    graph = ONNX_CANDIDATES.find((c) => present.has(c)) ?? null;
    if (graph !== null) towers = towersOf(variantOf(graph) ?? '', present);
    else towers = TOWER_VARIANTS.map((v) => towersOf(v, present)).find((t) => t.length > 0) ?? [];
  }

  if (graph === null && towers.length === 0) {
    if (onnxFiles.length === 0) {
      throw new HubError(
        `${where} has no ONNX file, and Coalesce runs ONNX models only. Its files: ${listForMessage(siblings)}. ` +
          `Export it with optimum (optimum-cli export onnx --model ${repo.id} --task feature-extraction <folder>) and serve ` +
          `the folder with --model <folder>, or pick a repository that ships onnx/model.onnx.`,
      );
    }
    throw new HubError(
      `${where} has ONNX files but none of ${ONNX_CANDIDATES.join(', ')}: choose one with --onnx-file. ` + `Its ONNX files: ${listForMessage(onnxFiles)}`,
    );
  }

  const files: string[] = [];
  for (const tower of towers) files.push(...externalDataOf(tower, siblings), tower);
  if (graph !== null) files.push(...externalDataOf(graph, siblings), graph);
  return { graph, files };
}

/** `config.json` of every sentence-transformers module modules.json names (e.g. 1_Pooling/config.json). */
export function moduleConfigFiles(modules: unknown, siblings: readonly string[]): string[] {
  if (!Array.isArray(modules)) return [];
  const present = new Set(siblings);
  const files: string[] = [];
  for (const m of modules as { path?: unknown }[]) {
    if (typeof m !== 'object' || m === null || typeof m.path !== 'string' || m.path === '') continue;
    const file = `${m.path.replace(/\/+$/, '')}/config.json`;
    if (present.has(file) && !files.includes(file)) files.push(file);
  }
  return files;
}

/** A repository path that stays inside the snapshot folder (no `..`, not absolute, no backslashes). */
export function isSafeRepoPath(file: string): boolean {
  if (file === '' || file.startsWith('/') || file.includes('\\') || file.includes('\0')) return false;
  return file.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
