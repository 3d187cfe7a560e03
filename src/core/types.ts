/** Shared shapes of the core. Nothing here knows about HTTP, gRPC, ONNX Runtime or a tokenizer library. */

export type TruncationDirection = 'right' | 'left';

/** One input text after tokenization: what the batcher queues and the backend runs. */
export interface EncodedText {
  /** Token ids, special tokens included, already truncated to the model's limit. */
  readonly ids: Uint32Array;
  /** Segment ids (all zero for single texts); only sent to models that take them. */
  readonly typeIds?: Uint8Array;
}

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
  encode(texts: readonly string[], options: EncodeOptions): Promise<EncodedText[]>;
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
  outputKind: 'pooled' | 'token';
}

/** A batch as the backend receives it. */
export interface Batch {
  readonly inputs: readonly EncodedText[];
}

/** One vector per input of the batch, in order. */
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
