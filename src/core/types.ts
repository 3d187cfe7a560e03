/** Shared shapes of the core. Nothing here knows about HTTP, gRPC, ONNX Runtime or a tokenizer library. */
import type { CancelSignal } from './cancellation.js';
import type { ModelKind, ProblemType } from './model-kind.js';

export type TruncationDirection = 'right' | 'left';

/** One input text after tokenization: what the batcher queues and the backend runs. */
export interface EncodedText {
  /** Token ids, special tokens included, already truncated to the model's limit. */
  readonly ids: Uint32Array;
  /** Segment ids (all zero for single texts); only sent to models that take them. */
  readonly typeIds?: Uint8Array;
}

export type TextPair = readonly [string, string];

export interface EncodeOptions {
  truncate: boolean;
  direction: TruncationDirection;
}

export interface Token {
  id: number;
  text: string;
  special: boolean;
  /** Byte offsets in the UTF-8 input (TEI's), null for special tokens and when the tokenizer cannot tell. */
  start: number | null;
  stop: number | null;
}

/** The core's view of a tokenizer (implemented in src/preprocess). Async so it can live in worker threads. */
export interface TextEncoder {
  /** Tokens per input, special tokens included, after truncation to maxLength. */
  readonly maxLength: number;
  /** Token ids run from 0 to vocabSize - 1, for checking pre-tokenized inputs (unset: not known). */
  readonly vocabSize?: number;
  encode(texts: readonly string[], options: EncodeOptions): Promise<EncodedText[]>;
  /**
   * Text pairs (query, document) as one input each, with segment ids; over-long pairs are cut
   * longest first (Hugging Face tokenizers' LongestFirst, as TEI and CrossEncoder cut).
   */
  encodePairs(pairs: readonly TextPair[], options: EncodeOptions): Promise<EncodedText[]>;
  tokenize(texts: readonly string[], options: EncodeOptions & { addSpecialTokens: boolean }): Promise<Token[][]>;
  decode(ids: readonly number[][], skipSpecialTokens: boolean): Promise<string[]>;
  close(): Promise<void>;
}

/** What a backend tells the core about the model it runs. */
export interface ModelInfo {
  id: string;
  dimensions: number;
  maxInputLength: number;
  /** Padded backends pay for the longest input of a batch times its size. */
  padded: boolean;
  pooling: string;
  /** The graph already L2-normalizes its output. */
  normalizedByModel: boolean;
  /** Where the sessions run (cpu, cuda:0, ...). */
  device: string;
  /** Execution provider that actually runs, e.g. 'cpu'. */
  provider: string;
  onnxFile: string;
  inputNames: string[];
  outputName: string;
  /** pooled / token (pooled on the host): one vector per input; sparse: (index, value) pairs; token-vectors: one vector per token. */
  outputKind: 'pooled' | 'token' | 'sparse' | 'token-vectors';
  /** What the model computes, which decides the routes it serves. */
  kind: ModelKind;
  /** A classifier's or reranker's labels in id order; null for other kinds. */
  labels: readonly string[] | null;
  problemType: ProblemType;
}

export interface EmbedOutcome {
  vector: Float32Array;
  /** `vector` L2-normalized, when the backend computed it. */
  normalized?: Float32Array;
  /** From enqueue to the start of the model call that carried this input. */
  queueMs: number;
  /** Duration of that model call. */
  inferenceMs: number;
  /** Size of that batch, for metrics and tests. */
  batchSize: number;
}

/**
 * What the facades need from a queue of inputs. Two implementations, chosen by --batch-queue:
 * the main thread's Batcher (batcher.ts), which sends each batch to the backend, and the shared
 * text queue (shared-queue/), from which the session threads take their batches themselves.
 * Both pass the contract suite in test/core/queue-contract.case.ts.
 */
export interface InputQueue<I> {
  /** Inputs waiting for a model call. */
  readonly queued: number;
  /**
   * Queues the inputs of one request; they may share batches with other requests' inputs. The
   * promise settles with one outcome per input, in order, or rejects with 'cancelled' as soon as
   * the signal aborts (the inputs still queued are then dropped before they reach the model).
   */
  submit(inputs: readonly I[], signal?: CancelSignal): Promise<EmbedOutcome[]>;
  /** Stops taking inputs; resolves once everything admitted has run. */
  drain(): Promise<void>;
}

export type Modality = 'text' | 'image';

/**
 * The served model as HTTP /info, tei.v1.Info and coalesce.v1.ModelInfo report it: one record,
 * built by the composition root (src/model-info.ts), its fields named as on the wire (TEI's /info
 * names, which the .proto fields share). The fields every report uses are typed; the rest of
 * /info (the deployment, the effective config) rides along.
 */
/** Shape-bucket warm-up of a model's sessions, as /info shows it (shapes_done: the fewest any session has warmed). */
export interface WarmupState {
  state: 'off' | 'background' | 'done';
  shapes_done: number;
  shapes_total: number;
}

/** Several device groups' warm-up as one: still 'background' while any group warms. */
export function combinedWarmup(states: readonly WarmupState[]): WarmupState {
  const state = states.some((s) => s.state === 'background') ? 'background' : (states[0]?.state ?? 'off');
  return { state, shapes_done: Math.min(...states.map((s) => s.shapes_done)), shapes_total: states[0]?.shapes_total ?? 0 };
}

export interface ServedModelInfo {
  readonly model_id: string;
  readonly model_dtype: string;
  readonly version: string;
  readonly dimensions: number;
  readonly max_input_length: number;
  readonly pooling: string;
  /** The graph already L2-normalizes its output. */
  readonly normalized_by_model: boolean;
  readonly device: string;
  readonly execution_provider: string;
  readonly modalities: readonly Modality[];
  readonly max_concurrent_requests: number;
  readonly max_batch_tokens: number;
  readonly max_batch_requests: number;
  readonly max_client_batch_size: number;
  readonly tokenization_workers: number;
  readonly [field: string]: unknown;
}

/** A batch as the backend receives it. */
export interface Batch {
  readonly inputs: readonly EncodedText[];
}

/**
 * One vector per input of the batch, in order. Its layout follows the model's outputKind: a dense
 * vector; for 'sparse', (index, value) pairs flattened (indices are exact in float32 below 2^24);
 * for 'token-vectors', the input's token vectors one after another.
 */
export interface BatchResult {
  vectors: Float32Array[];
  /**
   * The same vectors L2-normalized, when the backend computed them off the main thread (in the
   * graph or its worker): most requests ask for exactly these.
   */
  normalized?: Float32Array[];
  /**
   * How long the thread that owns the session worked on the batch, when it is not the caller's:
   * the rest of the call's time is waiting for threads to pick up messages.
   */
  sessionMs?: number;
}

/**
 * The seam to the model runtime. One call runs one batch; the batcher decides how many
 * calls may be in flight at once (maxConcurrentBatches).
 */
export interface Backend {
  readonly info: ModelInfo;
  /** How many batches may run at once (1 on CPU: ORT already uses every core for one). */
  readonly maxConcurrentBatches: number;
  embed(batch: Batch): Promise<BatchResult>;
  close(): Promise<void>;
}

/** Per-request timings, in milliseconds, reported as TEI's x-*-time headers and gRPC metadata. */
export interface Timings {
  tokenizationMs: number;
  queueMs: number;
  inferenceMs: number;
  totalMs: number;
}
