import { CoalesceError, overLimit, validation } from '../errors.js';
import { Admission } from './admission.js';
import { batchTimings, checkDimensions, checkInputCount, GuardedFacade, type EmbedObserver, type RequestScope } from './request-guard.js';
import { finalizeVector } from './postprocess.js';
import type { EmbedOutcome, EncodedText, EncodeOptions, InputQueue, ModelInfo, TextEncoder, TextPair, Timings, Token, TruncationDirection } from './types.js';
import type { CancelSignal } from './cancellation.js';
import { Prompts } from './prompts.js';
import { wrongKind } from './model-kind.js';
import { classScores, maxSim, rankByScore, rankLabels, sigmoid, type LabelScore, type Ranked } from './scores.js';
import { unpackSparse, type SparseValue } from './sparse.js';

export interface EmbedderLimits {
  maxClientBatchSize: number;
  autoTruncate: boolean;
  /** Named prompts and the default prompt (none when unset). */
  prompts?: Prompts;
  /** Default deadline of every embedding request, ms from its arrival (--queue-timeout); 0 or unset: none. */
  queueTimeoutMs?: number;
  /**
   * An embedding model's token states (one vector per token), for /embed_all: a queue whose model
   * calls answer those instead of pooled vectors. Unset: its graph has none.
   */
  tokenStates?: InputQueue<EncodedText> | null;
}

export type { EmbedObserver } from './request-guard.js';

/**
 * Characters per token an input may have before it is refused (or cut, when truncating) without
 * being tokenized: tokenizing megabytes blocks the thread that does it for seconds (a 1.8 MB text
 * on a Unigram model: 10 s). Text averages 3-5 characters per token; 32 leaves room for long
 * tokens and for whitespace that normalizers drop, while bounding the work to max input length x 32.
 */
export const MAX_CHARS_PER_TOKEN = 32;

export interface EmbedRequest extends RequestScope {
  inputs: readonly string[];
  /**
   * Pre-tokenized inputs (TEI's and OpenAI's token-id inputs), taken instead of `inputs` when set:
   * ids as the model reads them (no special tokens added), checked against the vocabulary and the
   * length limit, truncated as texts are.
   */
  tokenIds?: readonly (readonly number[])[];
  normalize: boolean;
  /** Unset: the server default (--auto-truncate). */
  truncate?: boolean;
  truncationDirection?: TruncationDirection;
  dimensions?: number;
  /** One of the model's prompts, prepended to every input; unset: the server's default prompt. */
  promptName?: string | null;
  /** Aborts when the client goes away; its queued inputs are then dropped. */
  signal?: CancelSignal;
  /**
   * `inputs` already encoded where the request arrived (preprocess/arrival-encoder.ts), each as
   * the encoder would and within the max input length, so no truncation option changes them; the
   * facade then skips its encoder. `ms`: what that took, reported as tokenization time.
   */
  encoded?: { texts: readonly EncodedText[]; ms: number };
}

export interface EmbedResponse {
  vectors: Float32Array[];
  /** Tokens the model saw, special tokens included (OpenAI's usage.prompt_tokens). */
  promptTokens: number;
  timings: Timings;
}

/** What every task request shares with EmbedRequest: truncation, and its signal, deadline and permit wait. */
interface TaskOptions extends RequestScope {
  truncate?: boolean;
  truncationDirection?: TruncationDirection;
}

export interface RerankRequest extends TaskOptions {
  query: string;
  texts: readonly string[];
  /** The reranker's logits instead of their sigmoid. */
  rawScores: boolean;
}

export interface PredictRequest extends TaskOptions {
  /** Single texts and (text, text) pairs, in any mix. */
  inputs: readonly (string | TextPair)[];
  rawScores: boolean;
}

export interface TextsRequest extends TaskOptions {
  inputs: readonly string[];
  promptName?: string | null;
}

interface TaskResponse {
  promptTokens: number;
  timings: Timings;
}

export interface RerankResponse extends TaskResponse {
  /** Highest score first. */
  ranks: Ranked[];
}
export interface PredictResponse extends TaskResponse {
  /** Per input, its labels highest score first. */
  predictions: LabelScore[][];
}
export interface SparseResponse extends TaskResponse {
  vectors: SparseValue[][];
}
export interface TokenVectorsResponse extends TaskResponse {
  /** Per input, its tokens' vectors (special tokens included). */
  tokens: Float32Array[][];
}

export interface TokenizeRequest {
  inputs: readonly string[];
  addSpecialTokens: boolean;
  /** As in EmbedRequest: the tokens are those of the prompted input. */
  promptName?: string | null;
  truncate?: boolean;
  truncationDirection?: TruncationDirection;
}

/**
 * The facade every transport calls: admits, validates, encodes and enqueues, then shapes the
 * vectors. Transports only translate wire formats and errors.
 */
export class Embedder extends GuardedFacade<EncodedText> {
  readonly prompts: Prompts;

  constructor(
    readonly info: ModelInfo,
    private readonly encoder: TextEncoder,
    batcher: InputQueue<EncodedText>,
    private readonly limits: EmbedderLimits,
    /** A limit of its own, or an Admission shared with other facades (several models share the server's). */
    admission: number | Admission,
    observer?: EmbedObserver,
  ) {
    super(typeof admission === 'number' ? new Admission(admission) : admission, batcher, observer, { queueTimeoutMs: limits.queueTimeoutMs });
    this.prompts = limits.prompts ?? Prompts.none();
  }

  embed(request: EmbedRequest): Promise<EmbedResponse> {
    return this.admitted(
      (signal) => this.embedAdmitted(request, signal),
      (r) => r.timings,
      request,
    );
  }

  tokenize(request: TokenizeRequest): Promise<Token[][]> {
    return this.admitted(async () => {
      checkInputCount(request.inputs.length, this.limits.maxClientBatchSize);
      const options = this.encodeOptions(request.truncate, request.truncationDirection);
      const inputs = this.boundChars(this.prompts.apply(request.inputs, request.promptName), options);
      const tokens = await this.encoder.tokenize(inputs, { ...options, addSpecialTokens: request.addSpecialTokens });
      if (!options.truncate) tokens.forEach((t, i) => this.checkLength(t.length, i));
      return tokens;
    });
  }

  decode(ids: readonly number[][], skipSpecialTokens: boolean): Promise<string[]> {
    return this.admitted(async () => {
      if (ids.length === 0) throw new CoalesceError('empty', 'Input validation error: `ids` cannot be empty');
      // Decoding is tokenizer work on this thread like encoding: bounded as the inputs of one request are.
      if (ids.length > this.limits.maxClientBatchSize) {
        throw overLimit(
          `Input validation error: \`ids\` must have at most ${this.limits.maxClientBatchSize} lists (--max-client-batch-size). Given: ${ids.length}`,
          'ids',
        );
      }
      ids.forEach((list, i) => {
        if (list.length > this.encoder.maxLength) {
          throw overLimit(
            `Input validation error: \`ids[${i}]\` must have at most ${this.encoder.maxLength} ids (the max input length). Given: ${list.length}`,
            'ids',
          );
        }
      });
      return this.encoder.decode(ids, skipSpecialTokens);
    });
  }

  /** TEI's /rerank: a reranker scores (query, text) pairs; a multi-vector model scores them by MaxSim. */
  rerank(request: RerankRequest): Promise<RerankResponse> {
    return this.admitted(
      async (signal) => {
        const { kind, dimensions } = this.info;
        if (request.texts.length === 0) throw new CoalesceError('empty', '`texts` cannot be empty', 'texts');
        if (kind === 'multi-vector') {
          const run = await this.runInputs([request.query, ...request.texts], request, signal);
          const [query, ...documents] = run.outcomes.map((o) => o.vector);
          return { ...run, ranks: rankByScore(documents.map((d) => maxSim(query, d, dimensions))) };
        }
        if (kind !== 'reranker') throw wrongKind(kind, 'a re-ranker model');
        const run = await this.runInputs(
          request.texts.map((t): TextPair => [request.query, t]),
          request,
          signal,
        );
        return { ...run, ranks: rankByScore(run.outcomes.map((o) => (request.rawScores ? o.vector[0] : sigmoid(o.vector[0])))) };
      },
      (r) => r.timings,
      request,
    );
  }

  /** TEI's /predict: labels of a classifier (or a reranker's one score), for single texts and pairs. */
  predict(request: PredictRequest): Promise<PredictResponse> {
    return this.admitted(
      async (signal) => {
        const { kind, labels, problemType } = this.info;
        if ((kind !== 'classifier' && kind !== 'reranker') || !labels) throw wrongKind(kind, 'a classifier model');
        const run = await this.runInputs(request.inputs, request, signal);
        return { ...run, predictions: run.outcomes.map((o) => rankLabels(labels, classScores(o.vector, problemType, request.rawScores))) };
      },
      (r) => r.timings,
      request,
    );
  }

  /** TEI's /embed_sparse: a SPLADE model's non-zero terms per input, by term index. */
  embedSparse(request: TextsRequest): Promise<SparseResponse> {
    return this.admitted(
      async (signal) => {
        if (this.info.kind !== 'sparse') throw wrongKind(this.info.kind, 'a sparse (SPLADE) model');
        const run = await this.runInputs(this.prompts.apply(request.inputs, request.promptName), request, signal);
        return { ...run, vectors: run.outcomes.map((o) => unpackSparse(o.vector)) };
      },
      (r) => r.timings,
      request,
    );
  }

  /**
   * TEI's /embed_all: one vector per token. An embedding model answers its token states (the
   * output it pools, as TEI); a multi-vector model its projected, normalized token vectors.
   */
  embedAll(request: TextsRequest): Promise<TokenVectorsResponse> {
    return this.admitted(
      async (signal) => {
        const { kind, dimensions } = this.info;
        const states = this.limits.tokenStates;
        if (kind === 'embedding' && !states) {
          throw new CoalesceError(
            'model_kind',
            "model has no token states: its graph outputs pooled vectors only (/embed_all needs the encoder's token output)",
          );
        }
        if (kind !== 'multi-vector' && kind !== 'embedding') throw wrongKind(kind, 'an embedding or multi-vector (ColBERT) model');
        const queue = kind === 'embedding' ? states! : this.batcher;
        const run = await this.runInputs(this.prompts.apply(request.inputs, request.promptName), request, signal, queue);
        const tokens = run.outcomes.map((o) =>
          Array.from({ length: o.vector.length / dimensions }, (_, t) => o.vector.slice(t * dimensions, (t + 1) * dimensions)),
        );
        return { ...run, tokens };
      },
      (r) => r.timings,
      request,
    );
  }

  /** Encodes texts and pairs (in one order), checks their lengths, and runs them through the batcher. */
  private async runInputs(
    inputs: readonly (string | TextPair)[],
    request: TaskOptions,
    signal: CancelSignal | undefined,
    queue: InputQueue<EncodedText> = this.batcher,
  ): Promise<{ outcomes: EmbedOutcome[]; promptTokens: number; timings: Timings }> {
    const started = performance.now();
    checkInputCount(inputs.length, this.limits.maxClientBatchSize);
    const options = this.encodeOptions(request.truncate, request.truncationDirection);
    const texts = inputs.filter((i): i is string => typeof i === 'string');
    const pairs = inputs.filter((i): i is TextPair => typeof i !== 'string');
    const [encodedTexts, encodedPairs] = await Promise.all([
      texts.length > 0 ? this.encoder.encode(this.boundChars(texts, options), options) : [],
      pairs.length > 0
        ? this.encoder.encodePairs(
            pairs.map(([a, b]) => this.boundChars([a, b], options) as unknown as TextPair),
            options,
          )
        : [],
    ]);
    let t = 0;
    let p = 0;
    const encoded = inputs.map((input) => (typeof input === 'string' ? encodedTexts[t++] : encodedPairs[p++]));
    if (!options.truncate) encoded.forEach((e, i) => this.checkLength(e.ids.length, i));
    const tokenizationMs = performance.now() - started;
    const outcomes = await queue.submit(encoded, signal);
    return {
      outcomes,
      promptTokens: encoded.reduce((n, e) => n + e.ids.length, 0),
      timings: { tokenizationMs, ...batchTimings(outcomes), totalMs: performance.now() - started },
    };
  }

  private async embedAdmitted(request: EmbedRequest, signal: CancelSignal | undefined): Promise<EmbedResponse> {
    if (this.info.kind !== 'embedding') throw wrongKind(this.info.kind, 'an embedding model');
    // Encoding on arrival counts as this request's tokenization, and so in its total.
    const started = performance.now() - (request.encoded?.ms ?? 0);
    const { dimensions, tokenIds } = request;
    checkInputCount(tokenIds ? tokenIds.length : request.inputs.length, this.limits.maxClientBatchSize);
    checkDimensions(dimensions, this.info.dimensions);
    const options = this.encodeOptions(request.truncate, request.truncationDirection);
    const inputs = this.prompts.apply(request.inputs, request.promptName);
    // Texts encoded on arrival are the bare inputs: a prompt changes them. Token ids take no prompt.
    const arrived = inputs === request.inputs && request.encoded?.texts.length === inputs.length ? request.encoded : null;
    const encoded = tokenIds
      ? this.pretokenized(tokenIds, options)
      : arrived
        ? arrived.texts
        : await this.encoder.encode(this.boundChars(inputs, options), options);
    if (!options.truncate) encoded.forEach((e, i) => this.checkLength(e.ids.length, i));
    const tokenizationMs = performance.now() - started;

    const outcomes = await this.batcher.submit(encoded, signal);
    // The model may already normalize; normalizing again is a no-op, so only skip it when asked not to.
    const vectors = outcomes.map((o) => finalizeVector(o.vector, { dimensions, normalize: request.normalize }, o.normalized));
    return {
      vectors,
      promptTokens: encoded.reduce((n, e) => n + e.ids.length, 0),
      timings: {
        tokenizationMs,
        ...batchTimings(outcomes),
        totalMs: performance.now() - started,
      },
    };
  }

  /** Token-id inputs as encoded texts: ids checked against the vocabulary, cut like texts when truncating. */
  private pretokenized(lists: readonly (readonly number[])[], { truncate, direction }: EncodeOptions): EncodedText[] {
    const vocabSize = this.encoder.vocabSize ?? 2 ** 32;
    return lists.map((list, i) => {
      if (list.length === 0) throw new CoalesceError('empty', `Input validation error: \`inputs[${i}]\` cannot be empty`, 'inputs');
      for (const id of list) {
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
          throw validation(`Input validation error: \`inputs[${i}]\` has token id ${id}, outside the vocabulary (0 to ${vocabSize - 1})`, 'inputs');
        }
      }
      const max = this.encoder.maxLength;
      const kept = truncate && list.length > max ? (direction === 'left' ? list.slice(list.length - max) : list.slice(0, max)) : list;
      return { ids: Uint32Array.from(kept) };
    });
  }

  /** Refuses inputs over the character bound before the tokenizer sees them, or cuts them there when truncating. */
  private boundChars(inputs: readonly string[], options: EncodeOptions): readonly string[] {
    const limit = this.encoder.maxLength * MAX_CHARS_PER_TOKEN;
    if (inputs.every((t) => t.length <= limit)) return inputs;
    return inputs.map((text, index) => {
      if (text.length <= limit) return text;
      if (!options.truncate) {
        throw overLimit(
          `Input validation error: \`inputs[${index}]\` must have at most ${limit} characters (${MAX_CHARS_PER_TOKEN} per token of the max input length ${this.encoder.maxLength}). Given: ${text.length}. Set \`truncate\` to true to cut it.`,
          'inputs',
        );
      }
      return cutChars(text, limit, options.direction);
    });
  }

  private checkLength(tokens: number, index: number): void {
    if (tokens > this.encoder.maxLength) {
      throw overLimit(
        `Input validation error: \`inputs[${index}]\` must have at most ${this.encoder.maxLength} tokens. Given: ${tokens}. Set \`truncate\` to true to cut it.`,
        'inputs',
      );
    }
  }

  private encodeOptions(truncate: boolean | undefined, direction: TruncationDirection | undefined): EncodeOptions {
    return { truncate: truncate ?? this.limits.autoTruncate, direction: direction ?? 'right' };
  }
}

/** The first (right truncation) or last `limit` UTF-16 units of `text`, never splitting a surrogate pair. */
function cutChars(text: string, limit: number, direction: TruncationDirection): string {
  if (direction === 'right') {
    const end = isHighSurrogate(text.charCodeAt(limit - 1)) ? limit - 1 : limit;
    return text.slice(0, end);
  }
  const start = text.length - limit;
  return text.slice(isHighSurrogate(text.charCodeAt(start - 1)) ? start + 1 : start);
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
