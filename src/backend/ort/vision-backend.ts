import { Worker } from 'node:worker_threads';
import { CoalesceError } from '../../errors.js';
import type { ImageBackend, PreprocessedImage, VisionModelInfo } from '../../core/image-types.js';
import { ModelError } from '../model-error.js';
import type { VisionEmbedMessage, VisionFacts, VisionFromWorker, VisionLoadRequest } from './vision-protocol.js';

interface Thread {
  worker: Worker;
  busy: number;
}

interface Pending {
  resolve(vectors: Float32Array[]): void;
  reject(error: Error): void;
  thread: Thread;
}

export interface VisionSettings {
  /** The device the text sessions resolved (cpu or cuda:N): both towers share it. */
  device: string;
  intraOpThreads: number;
  sessions: number;
}

async function startWorker(request: VisionLoadRequest): Promise<{ worker: Worker; facts: VisionFacts }> {
  const worker = new Worker(new URL('./vision-worker.js', import.meta.url));
  let onMessage: (m: VisionFromWorker) => void = () => {};
  let onError: (e: Error) => void = () => {};
  try {
    const facts = await new Promise<VisionFacts>((resolve, reject) => {
      onMessage = (m) => {
        if (m.type === 'loaded') resolve(m.facts);
        else if (m.type === 'load-failed') reject(new ModelError(request.path, m.problem.replace(`${request.path}: `, '')));
      };
      onError = reject;
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage(request);
    });
    return { worker, facts };
  } catch (e) {
    await worker.terminate();
    throw e;
  } finally {
    worker.off('message', onMessage);
    worker.off('error', onError);
  }
}

/**
 * The main-thread face of the vision sessions (threads of this process, like the text ones):
 * stacks a batch of CHW images into one pixel_values buffer, transfers it to the least busy
 * session, and splits the [B, D] result.
 */
export class VisionBackend implements ImageBackend {
  readonly maxConcurrentBatches: number;
  private readonly threads: Thread[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | null = null;

  private constructor(
    workers: Worker[],
    readonly info: VisionModelInfo,
  ) {
    this.threads = workers.map((worker) => ({ worker, busy: 0 }));
    this.maxConcurrentBatches = this.threads.length;
    for (const t of this.threads) {
      t.worker.on('message', (m: VisionFromWorker) => this.onMessage(m));
      t.worker.on('error', (e) => this.fail(e));
      t.worker.on('exit', (code) => this.fail(new Error(`a vision worker exited (code ${code})`)));
    }
  }

  static async start(graphPath: string, source: string, image: { height: number; width: number }, settings: VisionSettings): Promise<VisionBackend> {
    const request: VisionLoadRequest = { type: 'load', path: graphPath, device: settings.device, intraOpThreads: settings.intraOpThreads, ...image };
    const count = Math.max(1, settings.sessions);
    const started = await Promise.allSettled(Array.from({ length: count }, () => startWorker(request)));
    const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((w) => w.worker.terminate()));
      throw (failed as PromiseRejectedResult).reason;
    }
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
        inputType: facts.inputType,
      },
    );
  }

  embed(batch: { inputs: readonly PreprocessedImage[] }): Promise<Float32Array[]> {
    if (this.failure) return Promise.reject(new CoalesceError('unhealthy', this.failure.message));
    const size = 3 * this.info.height * this.info.width;
    const pixels = new Float32Array(size * batch.inputs.length);
    batch.inputs.forEach((img, i) => {
      if (img.pixels.length !== size) throw new CoalesceError('backend', `an image has ${img.pixels.length} values, expected ${size}`);
      pixels.set(img.pixels, i * size);
    });
    const id = this.nextId++;
    let thread = this.threads[0];
    for (const t of this.threads) if (t.busy < thread.busy) thread = t;
    thread.busy++;
    const message: VisionEmbedMessage = { type: 'embed', id, pixels, count: batch.inputs.length };
    return new Promise<Float32Array[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, thread });
      thread.worker.postMessage(message, [pixels.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private onMessage(m: VisionFromWorker): void {
    if (m.type !== 'result' && m.type !== 'failed') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.thread.busy--;
    if (m.type === 'failed') {
      p.reject(new CoalesceError('backend', `vision model call failed: ${m.message}`));
      return;
    }
    const out: Float32Array[] = [];
    for (let i = 0; i < m.vectors.length / m.dimensions; i++) out.push(m.vectors.subarray(i * m.dimensions, (i + 1) * m.dimensions));
    p.resolve(out);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(new CoalesceError('unhealthy', error.message));
    this.pending.clear();
  }
}
