import type { Admission } from './admission.js';
import type { InputQueue } from './types.js';
import { batchTimings, checkDimensions, checkInputCount, GuardedFacade, type EmbedObserver, type RequestScope } from './request-guard.js';
import type { ImageLoader, PreprocessedImage, VisionModelInfo } from './image-types.js';
import { finalizeVector } from './postprocess.js';
import type { Timings } from './types.js';
import type { CancelSignal } from './cancellation.js';

export interface ImageEmbedderLimits {
  maxClientBatchSize: number;
  /** Default deadline of every request, ms from its arrival (--queue-timeout); 0 or unset: none. */
  queueTimeoutMs?: number;
}

export interface ImageEmbedRequest extends RequestScope {
  /** Base64 images, data: URIs or http(s) URLs. */
  inputs: readonly string[];
  normalize: boolean;
  dimensions?: number;
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
export class ImageEmbedder extends GuardedFacade<PreprocessedImage> {
  constructor(
    readonly info: VisionModelInfo,
    private readonly loader: ImageLoader,
    batcher: InputQueue<PreprocessedImage>,
    private readonly limits: ImageEmbedderLimits,
    admission: Admission,
    observer?: EmbedObserver,
  ) {
    super(admission, batcher, observer, { queueTimeoutMs: limits.queueTimeoutMs });
  }

  embed(request: ImageEmbedRequest): Promise<ImageEmbedResponse> {
    return this.admitted(
      (signal) => this.embedAdmitted(request, signal),
      (r) => r.timings,
      request,
    );
  }

  private async embedAdmitted(request: ImageEmbedRequest, signal: CancelSignal | undefined): Promise<ImageEmbedResponse> {
    const started = performance.now();
    const { inputs, dimensions } = request;
    checkInputCount(inputs.length, this.limits.maxClientBatchSize);
    checkDimensions(dimensions, this.info.dimensions);
    const where = (i: number) => (inputs.length === 1 ? '`inputs`' : `\`inputs[${i}]\``);
    const prepared = await Promise.all(inputs.map((input, i) => this.loader.prepare(input, where(i), signal)));
    const preprocessedAt = performance.now();

    const outcomes = await this.batcher.submit(prepared, signal);
    const vectors = outcomes.map((o) => finalizeVector(o.vector, { dimensions, normalize: request.normalize }, o.normalized));
    return {
      vectors,
      bytes: prepared.reduce((n, p) => n + p.bytes, 0),
      timings: {
        tokenizationMs: preprocessedAt - started,
        decodeMs: Math.max(...prepared.map((p) => p.decodeMs)),
        resizeMs: Math.max(...prepared.map((p) => p.resizeMs)),
        ...batchTimings(outcomes),
        totalMs: performance.now() - started,
      },
    };
  }
}
