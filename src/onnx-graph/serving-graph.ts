/**
 * Decides, before any session exists, which output of a graph carries the embeddings and, for
 * token-level outputs, appends pooling to the graph (append-pooling.ts) so only [B, D] leaves
 * the session. Runs once at start; the rewritten bytes are shared by every session worker.
 */
import { readFileSync, statSync } from 'node:fs';
import type { GraphPooling } from './append-pooling.js';
import { appendPooling, AppendPoolingError } from './append-pooling.js';
import { decodeModel, encodeModel, valueInfoShape, type ModelProto } from './onnx-proto.js';
import { appendSplade, appendTokenProjection, SPARSE_VALUES_OUTPUT, TOKEN_VECTORS_OUTPUT, type Projection } from './append-task-heads.js';

export const POOLED_OUTPUTS = ['sentence_embedding', 'sentence_embeddings', 'text_embeds', 'embeddings'];
export const TOKEN_OUTPUTS = ['last_hidden_state', 'token_embeddings'];
/** Sequence classification and masked-language models (transformers, optimum exports). */
export const LOGITS_OUTPUT = 'logits';

/**
 * What the fetched output holds: one vector per input ('pooled': embeddings, or a classifier's
 * logits), token states to pool on the host ('token'), a sparse model's non-zeros ('sparse',
 * SPARSE_INDICES_OUTPUT / SPARSE_VALUES_OUTPUT), or normalized vectors per token ('token-vectors').
 */
export type OutputKind = 'pooled' | 'token' | 'sparse' | 'token-vectors';

export interface ServingGraph {
  /** The graph to create sessions from (in a SharedArrayBuffer, so workers share it); null: load the file. */
  bytes: Uint8Array | null;
  /** The output to fetch; null when the file could not be read here (the session's metadata then decides). */
  outputName: string | null;
  outputKind: OutputKind | null;
  /** The same vectors L2-normalized, when the rewritten graph outputs them too. */
  normalizedOutputName: string | null;
  /** The token states [B, S, D], fetched instead for requests that want one vector per token (TEI's /embed_all); null: the graph has none. */
  tokenOutputName: string | null;
  /** Pooling was appended to the graph (so the output is pooled but not by the model itself). */
  pooledInGraph: boolean;
  /** Why pooling stays on the host although the output is token-level. */
  note: string | null;
  /**
   * The graph removes padding itself (ONNX Runtime's packing mode: RemovePadding before the
   * first layer, packed attention): a batch then costs its real tokens, not rows x longest.
   */
  removesPadding: boolean;
}

/** ONNX Runtime's packing mode (onnxruntime.transformers convert_to_packing_mode, scripts/optimize-fp16.py --packed). */
export function removesPadding(model: ModelProto): boolean {
  return (model.graph?.node ?? []).some((n) => n.op_type === 'RemovePadding' && n.domain === 'com.microsoft');
}

/** protobufjs and Node buffers stop at 2 GiB; such models keep their weights in external files anyway. */
const MAX_DECODE_BYTES = 1.9 * 1024 ** 3;

/**
 * The embedding output among `names`: by name, else by rank when there is one output (pooled
 * [B, D] or token-level [B, S, D]); null when neither says. Used on the decoded graph here, and
 * on the session's metadata in the worker when the graph could not be read here.
 */
export function pickOutput(names: readonly string[], singleOutputRank: () => number | undefined): { name: string; kind: 'pooled' | 'token' } | null {
  const pooled = POOLED_OUTPUTS.find((n) => names.includes(n));
  if (pooled) return { name: pooled, kind: 'pooled' };
  const token = TOKEN_OUTPUTS.find((n) => names.includes(n));
  if (token) return { name: token, kind: 'token' };
  const rank = names.length === 1 ? singleOutputRank() : undefined;
  if (rank === 2) return { name: names[0], kind: 'pooled' };
  if (rank === 3) return { name: names[0], kind: 'token' };
  return null;
}

export function chooseOutput(model: ModelProto): { name: string; kind: 'pooled' | 'token' } | null {
  const outputs = model.graph?.output ?? [];
  return pickOutput(
    outputs.map((o) => o.name ?? ''),
    () => valueInfoShape(outputs[0])?.length,
  );
}

/** Weights kept in external files: the graph cannot be rewritten and re-encoded in memory. */
export function hasExternalData(model: ModelProto): boolean {
  return (model.graph?.initializer ?? []).some((t) => t.data_location === 1 || (t.external_data?.length ?? 0) > 0);
}

function shared(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  out.set(bytes);
  return out;
}

/**
 * What the served graph ends in: pooled embeddings (the default); a classifier's logits as they
 * are; SPLADE's sparse vector; or projected, normalized token vectors (ColBERT).
 */
export type GraphHead = 'embedding' | 'logits' | 'splade' | 'token-projection';

export interface ServingGraphOptions {
  pooling: GraphPooling;
  poolInGraph: boolean;
  /** Unset: embedding. */
  head?: GraphHead;
  projection?: Projection | null;
}

export class ServingGraphError extends Error {
  override name = 'ServingGraphError';
}

/** The logits [B, L] of a sequence classifier, by name or as the one rank-2 output. */
function logitsOutput(model: ModelProto, rank: number): string | null {
  const outputs = model.graph?.output ?? [];
  const named = outputs.find((o) => o.name === LOGITS_OUTPUT);
  if (named) return LOGITS_OUTPUT;
  return outputs.length === 1 && valueInfoShape(outputs[0])?.length === rank ? (outputs[0].name ?? null) : null;
}

/**
 * Graphs of the kinds that are not dense embeddings: a classifier's logits are served as they
 * are; SPLADE and ColBERT heads are appended (append-task-heads.ts), with no host fallback: the
 * [B, S, V] logits of a sparse model are too big to copy out per batch.
 */
function prepareTaskGraph(onnxPath: string, model: ModelProto | null, head: Exclude<GraphHead, 'embedding'>, projection: Projection | null): ServingGraph {
  const base = { normalizedOutputName: null, tokenOutputName: null, pooledInGraph: false, note: null, removesPadding: model ? removesPadding(model) : false };
  if (!model) throw new ServingGraphError(`${onnxPath} could not be read as ONNX here: a graph served for ${head} must be`);
  if (head === 'logits') {
    const name = logitsOutput(model, 2);
    if (!name) throw new ServingGraphError(`${onnxPath} has no '${LOGITS_OUTPUT}' output [batch, labels]`);
    return { ...base, bytes: null, outputName: name, outputKind: 'pooled' };
  }
  if (hasExternalData(model)) throw new ServingGraphError(`${onnxPath} keeps its weights in external files: the ${head} head cannot be appended`);
  try {
    if (head === 'splade') {
      const name = logitsOutput(model, 3);
      if (!name) throw new ServingGraphError(`${onnxPath} has no '${LOGITS_OUTPUT}' output [batch, seq, vocabulary] for SPLADE`);
      return { ...base, bytes: shared(encodeModel(appendSplade(model, name))), outputName: SPARSE_VALUES_OUTPUT, outputKind: 'sparse' };
    }
    const token = chooseOutput(model);
    if (token?.kind !== 'token') throw new ServingGraphError(`${onnxPath} has no token-level output (${TOKEN_OUTPUTS.join(', ')}) to project`);
    if (!projection) throw new ServingGraphError(`${onnxPath}: a token projection needs its weights (Dense module)`);
    return {
      ...base,
      bytes: shared(encodeModel(appendTokenProjection(model, token.name, projection))),
      outputName: TOKEN_VECTORS_OUTPUT,
      outputKind: 'token-vectors',
    };
  } catch (e) {
    if (e instanceof AppendPoolingError) throw new ServingGraphError(`${onnxPath}: the ${head} head could not be appended: ${e.message}`);
    throw e;
  }
}

export function prepareServingGraph(onnxPath: string, options: ServingGraphOptions): ServingGraph {
  const head = options.head ?? 'embedding';
  if (head !== 'embedding') {
    if (statSync(onnxPath).size > MAX_DECODE_BYTES) throw new ServingGraphError(`${onnxPath} is over 1.9 GiB: a graph served for ${head} must be read here`);
    let model: ModelProto | null = null;
    try {
      model = decodeModel(readFileSync(onnxPath));
    } catch {
      model = null;
    }
    return prepareTaskGraph(onnxPath, model, head, options.projection ?? null);
  }
  const unread: ServingGraph = {
    bytes: null,
    outputName: null,
    outputKind: null,
    normalizedOutputName: null,
    tokenOutputName: null,
    pooledInGraph: false,
    note: null,
    removesPadding: false,
  };
  if (statSync(onnxPath).size > MAX_DECODE_BYTES) return { ...unread, note: 'the graph file is over 1.9 GiB' };
  const file = readFileSync(onnxPath);
  let model: ModelProto;
  try {
    model = decodeModel(file);
  } catch {
    return unread; // not readable as ONNX here: the session's own error will say why
  }
  const output = chooseOutput(model);
  if (!output) return unread;
  const asIs: ServingGraph = {
    bytes: null,
    outputName: output.name,
    outputKind: output.kind,
    normalizedOutputName: null,
    tokenOutputName: output.kind === 'token' ? output.name : null,
    pooledInGraph: false,
    note: null,
    removesPadding: removesPadding(model),
  };
  if (output.kind === 'pooled') return asIs;
  if (!options.poolInGraph) return { ...asIs, note: 'in-graph pooling is off (--pool-in-graph false)' };
  if (hasExternalData(model)) return { ...asIs, note: 'the graph keeps its weights in external files' };
  try {
    // Normalized on the device too: most requests want it, and then no thread does it per vector.
    // The token states stay an output: fetched only for /embed_all, they cost nothing otherwise (pooling reads them anyway).
    const rewritten = appendPooling(model, { pooling: options.pooling, tokenOutput: output.name, normalized: true, keepOutputs: [output.name] });
    return {
      ...asIs,
      bytes: shared(encodeModel(rewritten.model)),
      outputName: rewritten.outputName,
      normalizedOutputName: rewritten.normalizedOutputName,
      outputKind: 'pooled',
      pooledInGraph: true,
    };
  } catch (e) {
    if (e instanceof AppendPoolingError) return { ...asIs, note: `pooling could not be appended: ${e.message}` };
    throw e;
  }
}
