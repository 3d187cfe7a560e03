import { CoalesceError, validation } from '../errors.js';
import type { Admission } from './admission.js';
import type { Batcher } from './batcher.js';
import type { EmbedObserver } from './embedder.js';
import type { ImageLoader, PreprocessedImage, VisionModelInfo } from './image-types.js';
import { finalizeVector } from './postprocess.js';
import type { Timings } from './types.js';

export interface ImageEmbedderLimits {
  maxClientBatchSize: number;
}

export interface ImageEmbedRequest {
  /** Base64 images, data: URIs or http(s) URLs. */
  inputs: readonly string[];
  normalize: boolean;
  dimensions?: number;
  signal?: AbortSignal;
}

export interface ImageTimings extends Timings {
  /** Reading and decoding the images (the longest of the request's images). */
  decodeMs: number;
  /** Resize, crop and normalize (the longest). */
  resizeMs: number;
}

export interface ImageEmbedResponse {
  vectors: Float32Array[];
  /** Encoded bytes received, for the x-compute-characters header. */
  bytes: number;
  timings: ImageTimings;
}

/**
 * The image facade, beside the text Embedder: admits (through the same Admission, so
 * --max-concurrent-requests covers text and images together), validates, decodes and
 * preprocesses, enqueues on the image batcher (its own budget: --max-batch-images), then
 * shapes the vectors.
 */
export class ImageEmbedder {
  private ready = false;

  constructor(
    readonly info: VisionModelInfo,
    private readonly loader: ImageLoader,
    private readonly batcher: Batcher<PreprocessedImage>,
    private readonly limits: ImageEmbedderLimits,
    readonly admission: Admission,
    private readonly observer?: EmbedObserver,
  ) {}

  get isReady(): boolean {
    return this.ready;
  }

  markReady(ready: boolean): void {
    this.ready = ready;
  }

  get queueDepth(): number {
    return this.batcher.queued;
  }

  async embed(request: ImageEmbedRequest): Promise<ImageEmbedResponse> {
    this.observer?.requestStarted();
    let release: (() => void) | null = null;
    try {
      if (!this.ready) throw new CoalesceError('unhealthy', 'the model is not ready');
      release = this.admission.acquire();
      const response = await this.embedAdmitted(request);
      this.observer?.requestFinished(true, response.timings);
      return response;
    } catch (e) {
      this.observer?.requestFinished(false, null);
      throw e;
    } finally {
      release?.();
    }
  }

  /** Stops admitting images and waits for the queued ones. */
  async drain(): Promise<void> {
    this.ready = false;
    while (this.admission.inUse > 0) await new Promise((r) => setTimeout(r, 5));
    await this.batcher.drain();
  }

  private async embedAdmitted(request: ImageEmbedRequest): Promise<ImageEmbedResponse> {
    const started = performance.now();
    const { inputs, dimensions } = request;
    if (inputs.length === 0) throw new CoalesceError('empty', 'Input validation error: `inputs` cannot be empty');
    if (inputs.length > this.limits.maxClientBatchSize) {
      throw validation(
        `Input validation error: \`inputs\` must have less than ${this.limits.maxClientBatchSize} elements (--max-client-batch-size). Given: ${inputs.length}`,
        'inputs',
      );
    }
    if (dimensions !== undefined && (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > this.info.dimensions)) {
      throw validation(`Input validation error: \`dimensions\` must be an integer between 1 and ${this.info.dimensions}. Given: ${dimensions}`, 'dimensions');
    }
    const where = (i: number) => (inputs.length === 1 ? '`inputs`' : `\`inputs[${i}]\``);
    const prepared = await Promise.all(inputs.map((input, i) => this.loader.prepare(input, where(i), request.signal)));
    const preprocessedAt = performance.now();
    if (request.signal?.aborted) throw new CoalesceError('cancelled', 'the client cancelled the request');

    const outcomes = await this.batcher.submit(prepared, request.signal);
    const vectors = outcomes.map((o) => finalizeVector(o.vector, { dimensions, normalize: request.normalize }));
    return {
      vectors,
      bytes: prepared.reduce((n, p) => n + p.bytes, 0),
      timings: {
        tokenizationMs: preprocessedAt - started,
        decodeMs: Math.max(...prepared.map((p) => p.decodeMs)),
        resizeMs: Math.max(...prepared.map((p) => p.resizeMs)),
        queueMs: Math.max(...outcomes.map((o) => o.queueMs)),
        inferenceMs: Math.max(...outcomes.map((o) => o.inferenceMs)),
        totalMs: performance.now() - started,
      },
    };
  }
}
