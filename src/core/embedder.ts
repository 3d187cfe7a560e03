import { CoalesceError, validation } from '../errors.js';
import { Admission } from './admission.js';
import { admittedRequestsDone, checkDimensions, checkInputCount, runAdmitted, type EmbedObserver } from './request-guard.js';
import type { Batcher } from './batcher.js';
import { finalizeVector } from './postprocess.js';
import type { EncodedText, EncodeOptions, ModelInfo, TextEncoder, Timings, Token, TruncationDirection } from './types.js';

export interface EmbedderLimits {
  maxClientBatchSize: number;
  autoTruncate: boolean;
}

export type { EmbedObserver } from './request-guard.js';

export interface EmbedRequest {
  inputs: readonly string[];
  normalize: boolean;
  /** Unset: the server default (--auto-truncate). */
  truncate?: boolean;
  truncationDirection?: TruncationDirection;
  dimensions?: number;
  /** Aborts when the client goes away; its queued inputs are then dropped. */
  signal?: AbortSignal;
}

export interface EmbedResponse {
  vectors: Float32Array[];
  /** Tokens the model saw, special tokens included (OpenAI's usage.prompt_tokens). */
  promptTokens: number;
  timings: Timings;
}

/**
 * An embed request tokenized elsewhere in this process (an HTTP thread), with `encodeOptions`
 * applied: the facade then admits, validates and enqueues it as if it had encoded it.
 */
export interface EncodedEmbedRequest extends Omit<EmbedRequest, 'inputs'> {
  encoded: EncodedText[];
  tokenizationMs: number;
}

/** How a request's inputs are tokenized: its own truncation settings, else the server's (--auto-truncate). */
export function encodeOptions(request: Pick<EmbedRequest, 'truncate' | 'truncationDirection'>, autoTruncate: boolean): EncodeOptions {
  return { truncate: request.truncate ?? autoTruncate, direction: request.truncationDirection ?? 'right' };
}

export interface TokenizeRequest {
  inputs: readonly string[];
  addSpecialTokens: boolean;
  truncate?: boolean;
  truncationDirection?: TruncationDirection;
}

/**
 * The facade every transport calls: admits, validates, encodes and enqueues, then shapes the
 * vectors. Transports only translate wire formats and errors.
 */
export class Embedder {
  readonly admission: Admission;
  private ready = false;

  constructor(
    readonly info: ModelInfo,
    private readonly encoder: TextEncoder,
    private readonly batcher: Batcher,
    private readonly limits: EmbedderLimits,
    maxConcurrentRequests: number,
    private readonly observer?: EmbedObserver,
  ) {
    this.admission = new Admission(maxConcurrentRequests);
  }

  get isReady(): boolean {
    return this.ready;
  }

  markReady(ready: boolean): void {
    this.ready = ready;
  }

  get queueDepth(): number {
    return this.batcher.queued;
  }

  embed(request: EmbedRequest): Promise<EmbedResponse> {
    return runAdmitted(this.ready, this.admission, this.observer, () => this.embedAdmitted(request), (r) => r.timings);
  }

  /** `embed` for inputs already tokenized with `encodeOptions` (by an HTTP thread's own tokenizer). */
  embedEncoded(request: EncodedEmbedRequest): Promise<EmbedResponse> {
    return runAdmitted(this.ready, this.admission, this.observer, () => {
      const started = performance.now() - request.tokenizationMs;
      this.checkInputs(request.encoded);
      checkDimensions(request.dimensions, this.info.dimensions);
      return this.enqueue(request, request.encoded, encodeOptions(request, this.limits.autoTruncate).truncate, started, request.tokenizationMs);
    }, (r) => r.timings);
  }

  tokenize(request: TokenizeRequest): Promise<Token[][]> {
    return runAdmitted(this.ready, this.admission, undefined, async () => {
      this.checkInputs(request.inputs);
      const options = encodeOptions(request, this.limits.autoTruncate);
      const tokens = await this.encoder.tokenize(request.inputs, { ...options, addSpecialTokens: request.addSpecialTokens });
      if (!options.truncate) tokens.forEach((t, i) => this.checkLength(t.length, i));
      return tokens;
    }, () => null);
  }

  decode(ids: readonly number[][], skipSpecialTokens: boolean): Promise<string[]> {
    return runAdmitted(this.ready, this.admission, undefined, async () => {
      if (ids.length === 0) throw new CoalesceError('empty', 'Input validation error: `ids` cannot be empty');
      return this.encoder.decode(ids, skipSpecialTokens);
    }, () => null);
  }

  /** Stops admitting and waits for everything admitted to finish. */
  async drain(): Promise<void> {
    this.ready = false;
    await admittedRequestsDone(this.admission);
    await this.batcher.drain();
  }

  private async embedAdmitted(request: EmbedRequest): Promise<EmbedResponse> {
    const started = performance.now();
    this.checkInputs(request.inputs);
    checkDimensions(request.dimensions, this.info.dimensions);
    const options = encodeOptions(request, this.limits.autoTruncate);
    const encoded = await this.encoder.encode(request.inputs, options);
    return this.enqueue(request, encoded, options.truncate, started, performance.now() - started);
  }

  /** Checks lengths (when not truncated), queues the inputs, shapes the vectors. `started` counts tokenization. */
  private async enqueue(request: Omit<EmbedRequest, 'inputs'>, encoded: EncodedText[], truncated: boolean, started: number, tokenizationMs: number): Promise<EmbedResponse> {
    if (!truncated) encoded.forEach((e, i) => this.checkLength(e.ids.length, i));
    if (request.signal?.aborted) throw new CoalesceError('cancelled', 'the client cancelled the request');
    const { dimensions } = request;

    const outcomes = await this.batcher.submit(encoded, request.signal);
    // The model may already normalize; normalizing again is a no-op, so only skip it when asked not to.
    const vectors = outcomes.map((o) => finalizeVector(o.vector, { dimensions, normalize: request.normalize }));
    return {
      vectors,
      promptTokens: encoded.reduce((n, e) => n + e.ids.length, 0),
      timings: {
        tokenizationMs,
        queueMs: Math.max(...outcomes.map((o) => o.queueMs)),
        inferenceMs: Math.max(...outcomes.map((o) => o.inferenceMs)),
        totalMs: performance.now() - started,
      },
    };
  }

  private checkInputs(inputs: readonly unknown[]): void {
    checkInputCount(inputs.length, this.limits.maxClientBatchSize);
  }

  private checkLength(tokens: number, index: number): void {
    if (tokens > this.encoder.maxLength) {
      throw validation(
        `Input validation error: \`inputs[${index}]\` must have at most ${this.encoder.maxLength} tokens. Given: ${tokens}. Set \`truncate\` to true to cut it.`,
        'inputs',
      );
    }
  }

}
