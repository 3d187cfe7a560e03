import type { Worker } from 'node:worker_threads';
import type { Config } from '../../config.js';
import { processDeviceCallLock } from './device-call-lock.js';
import { CoalesceError } from '../../errors.js';
import type { ImageBackend, PreprocessedImage, VisionModelInfo } from '../../core/image-types.js';
import type { BatchResult } from '../../core/types.js';
import { ModelError } from '../../model-prep/model-error.js';
import type { VisionEmbedMessage, VisionFacts, VisionFromWorker, VisionLoadRequest } from './vision-protocol.js';
import { SessionThreads, startSessionWorker } from './session-threads.js';
import { startAll } from '../../workers/start-workers.js';

export interface VisionSettings {
  /** The device the text sessions resolved (cpu or cuda:N): both towers share it. */
  device: string;
  intraOpThreads: number;
  sessions: number;
  /** --shape-buckets (auto, on, off): the worker resolves it for its device. */
  shapeBuckets: Config['shapeBuckets'];
  maxBatchImages: number;
}

function startWorker(request: VisionLoadRequest): Promise<{ worker: Worker; facts: VisionFacts }> {
  return startSessionWorker<VisionFacts>(new URL('./vision-worker.js', import.meta.url), 'image-session', request, (reply) => {
    const m = reply as VisionFromWorker;
    if (m.type === 'loaded') return { facts: m.facts };
    if (m.type === 'load-failed') return { error: new ModelError(request.path, m.problem.replace(`${request.path}: `, '')) };
    return null;
  });
}

/**
 * The main-thread face of the vision sessions (threads of this process, like the text ones):
 * transfers a batch's [H, W, 3] uint8 images to the least busy session, which stacks them
 * (stacking on the main thread, a fresh zeroed buffer per batch, was ~19 % of its time under the
 * image benchmark), and splits the [B, D] result.
 */
export class VisionBackend implements ImageBackend {
  readonly maxConcurrentBatches: number;
  private readonly threads: SessionThreads;

  private constructor(
    workers: Worker[],
    readonly info: VisionModelInfo,
  ) {
    this.threads = new SessionThreads(workers, 'vision model');
    this.maxConcurrentBatches = this.threads.size;
  }

  static async start(graphPath: string, source: string, image: { height: number; width: number }, settings: VisionSettings): Promise<VisionBackend> {
    const request: VisionLoadRequest = {
      type: 'load',
      path: graphPath,
      device: settings.device,
      intraOpThreads: settings.intraOpThreads,
      shapeBuckets: settings.shapeBuckets,
      maxBatchImages: settings.maxBatchImages,
      ...image,
      deviceLock: processDeviceCallLock(),
    };
    const ok = await startAll(Math.max(1, settings.sessions), () => startWorker(request));
    const facts = ok[0].facts;
    return new VisionBackend(
      ok.map((w) => w.worker),
      {
        dimensions: facts.dimensions,
        height: image.height,
        width: image.width,
        padded: false,
        device: facts.device,
        provider: facts.provider,
        onnxFile: source,
        outputName: facts.outputName,
        // The served graph takes decoded pixels (pixel-input.ts).
        inputType: 'uint8',
        warmup: facts.warmup,
      },
    );
  }

  embed(batch: { inputs: readonly PreprocessedImage[] }): Promise<BatchResult> {
    const size = 3 * this.info.height * this.info.width;
    const images = batch.inputs.map((img) => {
      if (img.pixels.length !== size) throw new CoalesceError('backend', `an image has ${img.pixels.length} values, expected ${size}`);
      return img.pixels;
    });
    const message: Omit<VisionEmbedMessage, 'id'> = { type: 'embed', images };
    // Each image's buffer once (two images could view one buffer); after this they belong to the worker.
    return this.threads.run(message, [...new Set(images.map((p) => p.buffer as ArrayBuffer))]);
  }

  close(): Promise<void> {
    return this.threads.close();
  }
}
