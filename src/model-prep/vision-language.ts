/**
 * Two-tower image-text models (CLIP, SigLIP, SigLIP2) in the layouts people have:
 * - transformers.js: onnx/text_model{_variant}.onnx + onnx/vision_model{_variant}.onnx (SigLIP's
 *   towers output last_hidden_state + pooler_output, CLIP's text_embeds / image_embeds);
 * - optimum: one model.onnx taking input_ids, attention_mask AND pixel_values.
 * Each tower becomes a graph of its own: the text tower is handed to the ordinary text path as a
 * graph whose one output is text_embeds (with SigLIP's fixed-length padding inside it), the
 * vision tower to the vision session. Graphs that need rewriting are written once to a cache
 * folder keyed by the source file's path, size and time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ImageProcessorConfig } from '../preprocess/image.js';
import { parsePreprocessorConfig, pixelNormalization, PreprocessorConfigError } from './preprocessor-config.js';
import { ModelError } from './model-error.js';
import { PIXEL_VALUES, pixelInput, type PixelNormalization } from '../onnx-graph/pixel-input.js';
import { patchMatMul } from '../onnx-graph/patch-matmul.js';
import { fuseSkipLayerNorm } from '../onnx-graph/fuse-skip-layer-norm.js';
import { fuseGelu } from '../onnx-graph/fuse-gelu.js';
import { fuseAttention } from '../onnx-graph/fuse-attention.js';
import { readJson } from './manifest.js';
import { hasExternalData } from '../onnx-graph/serving-graph.js';
import { decodeModel, encodeModel, makeValueInfo, DataType, valueInfoShape, type ModelProto } from '../onnx-graph/onnx-proto.js';
import { extractSubgraph, graphInputNames, padTextInputs, SubgraphError, type FixedPadding } from '../onnx-graph/subgraph.js';
import { readSafetensorScalars } from './safetensors.js';
import { cachePath, defaultCacheDir, writeOnce } from './graph-cache.js';

/** config.json model_type values served as image-text models. */
const FAMILIES = new Set(['clip', 'siglip', 'siglip2', 'chinese_clip', 'altclip']);
const SIGMOID_FAMILIES = new Set(['siglip', 'siglip2']);

export interface VisionLanguageModel {
  family: string;
  layout: 'split' | 'combined';
  /** A graph file whose one output, text_embeds [B, D], is what the text path serves. */
  textGraphPath: string;
  /** Where it came from, as /info shows it. */
  textSource: string;
  /** The source graph file of the text tower, relative to the folder. */
  textFile: string;
  visionGraphPath: string;
  visionSource: string;
  /** What the load-time rewrites did to the vision tower. */
  visionRewrites: VisionRewrites;
  image: ImageProcessorConfig;
  /** How /classify_image turns logits into scores: SigLIP's sigmoid or CLIP's softmax over labels. */
  scoring: 'sigmoid' | 'softmax';
  /** logits = scale * cosine + bias (scale already exponentiated). */
  logits: { scale: number; bias: number; source: string };
  textPadding: FixedPadding | null;
}

export interface VisionLanguageOptions {
  /** transformers.js variant suffix: fp16, quantized, q8, ...; null: fp32 files. */
  variant?: string | null;
  /** --onnx-file: a combined graph to use instead of looking. */
  onnxFile?: string | null;
  cacheDir?: string;
  /** --fuse-attention: fuse the vision tower's attention, residual + LayerNorm and GELU (fuse-*.ts); default true. */
  fuseAttention?: boolean;
}

const suffix = (variant: string | null | undefined) => (variant && variant !== 'fp32' ? `_${variant}` : '');

/** Whether the folder holds an image-text model (cheap: file names and config.json only). */
export function isVisionLanguageFolder(dir: string): boolean {
  const config = readJson(dir, 'config.json');
  const type = typeof config?.model_type === 'string' ? config.model_type : '';
  return FAMILIES.has(type) || existsSync(join(dir, 'onnx', 'vision_model.onnx')) || existsSync(join(dir, 'vision_model.onnx'));
}

function loadGraph(path: string): ModelProto {
  try {
    const model = decodeModel(readFileSync(path));
    if (hasExternalData(model))
      throw new ModelError(path, 'keeps its weights in external data files; use the split onnx/text_model.onnx + onnx/vision_model.onnx layout');
    return model;
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(path, `is not a readable ONNX graph (${(e as Error).message})`);
  }
}

/** A token's id in a tokenizer.json (added tokens, then the model's vocabulary). */
export function tokenId(tokenizer: Record<string, unknown>, token: string): number | null {
  const added = (tokenizer.added_tokens ?? []) as { id: number; content: string }[];
  const a = added.find((t) => t.content === token);
  if (a) return a.id;
  const vocab = (tokenizer.model as { vocab?: unknown } | undefined)?.vocab;
  if (Array.isArray(vocab)) {
    const i = vocab.findIndex((v) => Array.isArray(v) && v[0] === token);
    return i >= 0 ? i : null;
  }
  if (vocab && typeof vocab === 'object') {
    const id = (vocab as Record<string, number>)[token];
    return typeof id === 'number' ? id : null;
  }
  return null;
}

const tokenText = (v: unknown): string | null =>
  typeof v === 'string'
    ? v
    : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string'
      ? (v as { content: string }).content
      : null;

/** SigLIP pads every text to max length with its pad token and no mask; others pad per batch. */
function textPadding(dir: string, family: string, config: Record<string, unknown>): FixedPadding | null {
  const tokenizer = readJson(dir, 'tokenizer.json') ?? {};
  const tokConfig = readJson(dir, 'tokenizer_config.json') ?? {};
  const fixed = (tokenizer.padding as { strategy?: { Fixed?: number }; pad_id?: number } | null | undefined) ?? null;
  if (fixed?.strategy?.Fixed && typeof fixed.pad_id === 'number') return { length: fixed.strategy.Fixed, padId: fixed.pad_id };
  if (!SIGMOID_FAMILIES.has(family)) return null;
  const textConfig = (config.text_config ?? {}) as Record<string, unknown>;
  const length =
    (Number.isInteger(tokConfig.model_max_length) && (tokConfig.model_max_length as number) < 100_000 ? (tokConfig.model_max_length as number) : null) ??
    (Number.isInteger(textConfig.max_position_embeddings) ? (textConfig.max_position_embeddings as number) : null) ??
    64;
  const padToken = tokenText(tokConfig.pad_token);
  const padId =
    (padToken !== null ? tokenId(tokenizer, padToken) : null) ?? (Number.isInteger(textConfig.pad_token_id) ? (textConfig.pad_token_id as number) : null);
  if (padId === null) throw new ModelError(join(dir, 'tokenizer_config.json'), `names no pad token: ${family} pads every text to ${length} tokens with it`);
  return { length, padId };
}

/** A combined text + vision graph, decoded on first use only: once its towers and logits are cached, a start reads none of it. */
interface CombinedGraph {
  path: string;
  graph: () => ModelProto;
}

function combinedGraph(path: string): CombinedGraph {
  let model: ModelProto | null = null;
  return {
    path,
    graph: () => {
      if (model) return model;
      const decoded = loadGraph(path);
      const inputs = graphInputNames(decoded);
      if (!inputs.includes('pixel_values')) throw new ModelError(path, `takes no pixel_values (inputs: ${inputs.join(', ')}): not an image-text graph`);
      return (model = decoded);
    },
  };
}

/** Picks the tower files: split transformers.js files first, else a combined graph. */
function towerFiles(dir: string, options: VisionLanguageOptions): { layout: 'split'; text: string; vision: string } | { layout: 'combined'; graph: string } {
  const sfx = suffix(options.variant);
  if (options.onnxFile) {
    const graph = join(dir, options.onnxFile);
    if (!existsSync(graph)) throw new ModelError(graph, 'is missing (--onnx-file)');
    return { layout: 'combined', graph };
  }
  // transformers.js puts the towers under onnx/, a split optimum export at the top.
  for (const sub of ['onnx', '']) {
    const text = join(dir, sub, `text_model${sfx}.onnx`);
    const vision = join(dir, sub, `vision_model${sfx}.onnx`);
    if (existsSync(text) && existsSync(vision)) return { layout: 'split', text, vision };
  }
  for (const c of [`model${sfx}.onnx`, `onnx/model${sfx}.onnx`]) {
    if (existsSync(join(dir, c))) return { layout: 'combined', graph: join(dir, c) };
  }
  const looked = [
    `onnx/text_model${sfx}.onnx + onnx/vision_model${sfx}.onnx`,
    `text_model${sfx}.onnx + vision_model${sfx}.onnx`,
    `model${sfx}.onnx`,
    `onnx/model${sfx}.onnx`,
  ];
  throw new ModelError(dir, `holds no image-text ONNX graphs (looked for ${looked.join(', ')})`);
}

const rel = (dir: string, path: string) => (path.startsWith(dir + '/') ? path.slice(dir.length + 1) : path);

/** logit_scale / logit_bias: weights file, else measured on a combined graph, else config defaults. */
async function logitParameters(
  dir: string,
  family: string,
  config: Record<string, unknown>,
  combined: CombinedGraph | null,
  sfx: string,
  cacheDir: string,
): Promise<VisionLanguageModel['logits']> {
  const weights = join(dir, 'model.safetensors');
  if (existsSync(weights)) {
    const found = readSafetensorScalars(weights, ['logit_scale', 'logit_bias']);
    if (found.logit_scale !== undefined) {
      return { scale: Math.exp(found.logit_scale), bias: found.logit_bias ?? 0, source: 'model.safetensors' };
    }
  }
  let graph = combined;
  let source = 'the combined graph';
  if (!graph) {
    const c = [`onnx/model${sfx}.onnx`, `model${sfx}.onnx`, 'onnx/model.onnx', 'model.onnx'].map((f) => join(dir, f)).find((p) => existsSync(p));
    if (c) {
      graph = { path: c, graph: () => loadGraph(c) };
      source = rel(dir, c);
    }
  }
  if (graph) {
    // Measured once per graph file, "not measurable" (null) included: decoding a whole combined
    // graph at every start only for two numbers is slow.
    const cached = cachePath(cacheDir, graph.path, 'logits', 'json');
    let measured: { scale: number; bias: number } | null;
    if (existsSync(cached)) {
      measured = JSON.parse(readFileSync(cached, 'utf8')) as typeof measured;
    } else {
      measured = await measureLogits(graph.graph()).catch(() => null);
      writeOnce(cached, () => JSON.stringify(measured));
    }
    if (measured) return { scale: measured.scale, bias: measured.bias, source: `measured on ${source}` };
  }
  // Untrained values: scores are then only a ranking, which /info says.
  if (SIGMOID_FAMILIES.has(family)) return { scale: 10, bias: -10, source: 'SigLIP initial values (no weights or combined graph to read them from)' };
  const init = typeof config.logit_scale_init_value === 'number' ? config.logit_scale_init_value : 2.6592;
  return { scale: Math.exp(init), bias: 0, source: 'config.json logit_scale_init_value (no weights or combined graph to read them from)' };
}

/**
 * logits_per_image = scale * (text_embeds . image_embeds) + bias, on the normalized embeddings
 * the graph outputs. Cutting the graph at those two outputs leaves a few nodes; feeding unit
 * vectors gives scale + bias and bias.
 */
export async function measureLogits(model: ModelProto): Promise<{ scale: number; bias: number } | null> {
  const outs = model.graph?.output ?? [];
  const te = outs.find((o) => o.name === 'text_embeds');
  const ie = outs.find((o) => o.name === 'image_embeds');
  if (!te || !ie || !outs.some((o) => o.name === 'logits_per_image')) return null;
  const dim = [valueInfoShape(te)?.[1], valueInfoShape(ie)?.[1]].find((d): d is number => typeof d === 'number');
  if (!dim) return null;
  const cut = extractSubgraph(model, ['logits_per_image'], {
    cutAt: [makeValueInfo('text_embeds', DataType.FLOAT, [null, dim]), makeValueInfo('image_embeds', DataType.FLOAT, [null, dim])],
  });
  const inputs = graphInputNames(cut);
  if (inputs.length !== 2 || !inputs.includes('text_embeds') || !inputs.includes('image_embeds')) return null;
  const session = await ort.InferenceSession.create(encodeModel(cut), { executionProviders: ['cpu'], logSeverityLevel: 4 });
  try {
    const t = new Float32Array(2 * dim);
    t[0] = 1; // text 0 = e0
    t[dim + 1] = 1; // text 1 = e1
    const i = new Float32Array(dim);
    i[0] = 1;
    const r = await session.run({ text_embeds: new ort.Tensor('float32', t, [2, dim]), image_embeds: new ort.Tensor('float32', i, [1, dim]) });
    const l = r.logits_per_image.data as Float32Array;
    if (l.length !== 2 || !Number.isFinite(l[0]) || !Number.isFinite(l[1])) return null;
    return { scale: l[0] - l[1], bias: l[1] };
  } finally {
    await session.release();
  }
}

function textTower(
  dir: string,
  files: ReturnType<typeof towerFiles>,
  combined: CombinedGraph | null,
  padding: FixedPadding | null,
  cacheDir: string,
): { path: string; source: string } {
  const sourcePath = files.layout === 'split' ? files.text : files.graph;
  const what = `text|${padding ? `${padding.length}:${padding.padId}` : 'none'}`;
  const target = cachePath(cacheDir, sourcePath, what);
  if (existsSync(target)) return { path: target, source: rel(dir, sourcePath) };
  const model = combined ? combined.graph() : loadGraph(sourcePath);
  const names = (model.graph?.output ?? []).map((o) => o.name ?? '');
  const output = ['text_embeds', 'pooler_output', 'sentence_embedding'].find((n) => names.includes(n));
  if (!output) throw new ModelError(sourcePath, `has no text embedding output (outputs: ${names.join(', ')}; expected text_embeds or pooler_output)`);
  // The one output the text path serves, named text_embeds; SigLIP's fixed padding put inside.
  if (files.layout === 'split' && output === 'text_embeds' && names.length === 1 && !padding) return { path: sourcePath, source: rel(dir, sourcePath) };
  try {
    let tower = extractSubgraph(model, [output], { rename: { [output]: 'text_embeds' } });
    if (padding) tower = padTextInputs(tower, padding);
    writeOnce(target, () => encodeModel(tower));
  } catch (e) {
    if (e instanceof SubgraphError) throw new ModelError(sourcePath, e.message);
    throw e;
  }
  return { path: target, source: `${rel(dir, sourcePath)}${files.layout === 'combined' ? '#text_embeds' : ''}` };
}

export interface VisionRewrites {
  /** Attention blocks fused into MultiHeadAttention. */
  fusedAttention: number;
  /** The patch embedding runs as a MatMul over cut-out patches, not a Conv (patch-matmul.ts). */
  patchMatMul: boolean;
  /** Residual Add + LayerNorm (+ projection bias) blocks fused into SkipLayerNormalization. */
  skipLayerNorm: number;
  /** tanh GELUs (+ their bias Add) fused into FastGelu. */
  fastGelu: number;
}

const NO_REWRITES: VisionRewrites = { fusedAttention: 0, patchMatMul: false, skipLayerNorm: 0, fastGelu: 0 };

interface ServedVision {
  path: string;
  rewrites: VisionRewrites;
}

/**
 * The vision tower as served: it takes the decoded image as uint8 [B, H, W, 3] and normalizes it
 * on the device (pixel-input.ts), its patch embedding runs as a MatMul (patch-matmul.ts), and,
 * unless turned off, its attention, residual + LayerNorm and GELU run fused (fuse-attention.ts,
 * fuse-skip-layer-norm.ts, fuse-gelu.ts). Written once to the cache with a note of what was
 * fused, so a later start decodes nothing.
 */
function servedVision(
  cacheDir: string,
  source: string,
  what: 'tower' | 'image_embeds',
  tower: () => ModelProto,
  normalization: PixelNormalization,
  heads: number | null,
  fuse: boolean,
): ServedVision {
  // The rewrites are named in the key: a change to them must not reuse graphs cached by an older one.
  const key = `vision|${what}|pixels|${JSON.stringify(normalization)}|patches-v2${fuse ? '|mha-v2|sln-v1|gelu-v2' : ''}`;
  const target = cachePath(cacheDir, source, key);
  const note = target.replace(/\.onnx$/, '.json');
  // Notes written before some rewrites existed (unfused graphs keep their key) lack their counts: none done.
  if (existsSync(note) && existsSync(target))
    return { path: target, rewrites: { ...NO_REWRITES, ...(JSON.parse(readFileSync(note, 'utf8')) as Partial<VisionRewrites>) } };
  let model: ModelProto;
  let patches = 0;
  try {
    model = pixelInput(tower(), normalization);
    ({ model, rewritten: patches } = patchMatMul(model, PIXEL_VALUES, normalization.height, normalization.width));
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(source, `cannot take images: ${(e as Error).message}`);
  }
  let fusedAttention = 0;
  let skipLayerNorm = 0;
  let fastGelu = 0;
  if (fuse) {
    ({ model, fused: fusedAttention } = fuseAttention(model, heads));
    ({ model, fused: skipLayerNorm } = fuseSkipLayerNorm(model));
    ({ model, fused: fastGelu } = fuseGelu(model));
  }
  writeOnce(target, () => encodeModel(model));
  const rewrites: VisionRewrites = { fusedAttention, patchMatMul: patches > 0, skipLayerNorm, fastGelu };
  writeOnce(note, () => JSON.stringify(rewrites));
  return { path: target, rewrites };
}

function visionTower(
  dir: string,
  files: ReturnType<typeof towerFiles>,
  combined: CombinedGraph | null,
  cacheDir: string,
  normalization: PixelNormalization,
  heads: number | null,
  fuse: boolean,
): ServedVision & { source: string } {
  if (files.layout === 'split') {
    return { ...servedVision(cacheDir, files.vision, 'tower', () => loadGraph(files.vision), normalization, heads, fuse), source: rel(dir, files.vision) };
  }
  const extract = () => {
    try {
      return extractSubgraph(combined ? combined.graph() : loadGraph(files.graph), ['image_embeds']);
    } catch (e) {
      if (e instanceof SubgraphError) throw new ModelError(files.graph, e.message);
      throw e;
    }
  };
  return { ...servedVision(cacheDir, files.graph, 'image_embeds', extract, normalization, heads, fuse), source: `${rel(dir, files.graph)}#image_embeds` };
}

/** Reads and prepares an image-text model folder; throws ModelError naming the file at fault. */
export async function prepareVisionLanguage(dir: string, options: VisionLanguageOptions = {}): Promise<VisionLanguageModel> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const config = readJson(dir, 'config.json') ?? {};
  const family = typeof config.model_type === 'string' ? config.model_type : 'clip';
  const preprocessorPath = join(dir, 'preprocessor_config.json');
  const preprocessor = readJson(dir, 'preprocessor_config.json');
  if (!preprocessor) throw new ModelError(preprocessorPath, 'is missing: an image-text model needs it to preprocess images');
  let image: ImageProcessorConfig;
  try {
    image = parsePreprocessorConfig(preprocessor);
  } catch (e) {
    if (e instanceof PreprocessorConfigError) throw new ModelError(preprocessorPath, e.message);
    throw e;
  }
  const files = towerFiles(dir, options);
  const combined = files.layout === 'combined' ? combinedGraph(files.graph) : null;
  const padding = textPadding(dir, family, config);
  const text = textTower(dir, files, combined, padding, cacheDir);
  const visionConfig = (config.vision_config ?? {}) as Record<string, unknown>;
  const heads = Number.isInteger(visionConfig.num_attention_heads) ? (visionConfig.num_attention_heads as number) : null;
  const vision = visionTower(dir, files, combined, cacheDir, pixelNormalization(image), heads, options.fuseAttention ?? true);
  const logits = await logitParameters(dir, family, config, combined, suffix(options.variant), cacheDir);
  return {
    family,
    layout: files.layout,
    textGraphPath: text.path,
    textSource: text.source,
    textFile: rel(dir, files.layout === 'split' ? files.text : files.graph),
    visionGraphPath: vision.path,
    visionSource: vision.source,
    visionRewrites: vision.rewrites,
    image,
    scoring: SIGMOID_FAMILIES.has(family) ? 'sigmoid' : 'softmax',
    logits,
    textPadding: padding,
  };
}
