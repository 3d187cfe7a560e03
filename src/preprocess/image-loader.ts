import { Worker } from 'node:worker_threads';
import { CoalesceError, type ErrorKind } from '../errors.js';
import type { ImageLoader, PreparedImage } from '../core/image-types.js';
import { preprocessImage, type ImageLimits, type ImageProcessorConfig } from './image.js';
import { loadImageBytes, type ImageSourceOptions } from './image-source.js';

export interface ImageJob {
  id: number;
  bytes: Uint8Array;
}

export type ImageJobResult =
  | { id: number; ok: true; pixels: Float32Array; decodeMs: number; resizeMs: number }
  | { id: number; ok: false; kind: ErrorKind; message: string; param?: string };

interface Slot {
  worker: Worker;
  busy: number;
  pending: Map<number, { resolve(r: ImageJobResult): void; reject(e: Error): void }>;
}

/**
 * Reads image inputs (base64, data: URI, URL: on the main thread, it is I/O) and decodes and
 * preprocesses them, on the main thread or in N worker threads. Decoding already runs on
 * libuv's pool inside sharp; the workers take the JS part (Pillow-exact resize, crop, normalize),
 * which for a 1024 x 768 photo is tens of milliseconds the event loop would otherwise block.
 */
export class ImagePreprocessor implements ImageLoader {
  private nextId = 1;

  private constructor(
    private readonly config: ImageProcessorConfig,
    private readonly limits: ImageLimits,
    private readonly source: ImageSourceOptions,
    private readonly slots: Slot[],
  ) {}

  static async start(config: ImageProcessorConfig, limits: ImageLimits, source: ImageSourceOptions, workers: number): Promise<ImagePreprocessor> {
    const slots = await Promise.all(
      Array.from({ length: workers }, async () => {
        const worker = new Worker(new URL('./image-worker.js', import.meta.url), { workerData: { config, limits } });
        const slot: Slot = { worker, busy: 0, pending: new Map() };
        await new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        });
        worker.on('message', (m: ImageJobResult) => {
          const p = slot.pending.get(m.id);
          if (!p) return;
          slot.pending.delete(m.id);
          slot.busy--;
          p.resolve(m);
        });
        worker.on('error', (e) => {
          for (const p of slot.pending.values()) p.reject(new CoalesceError('backend', `image worker failed: ${e.message}`));
          slot.pending.clear();
        });
        return slot;
      }),
    );
    return new ImagePreprocessor(config, limits, source, slots);
  }

  get workers(): number {
    return this.slots.length;
  }

  async prepare(input: string, where: string, signal?: AbortSignal): Promise<PreparedImage> {
    const started = performance.now();
    const bytes = await loadImageBytes(input, this.source, where, signal);
    const loadMs = performance.now() - started;
    try {
      if (this.slots.length === 0) {
        const t = await preprocessImage(bytes, this.config, this.limits);
        return { pixels: t.pixels, bytes: bytes.length, decodeMs: loadMs + t.decodeMs, resizeMs: t.resizeMs };
      }
      const r = await this.run(bytes);
      if (!r.ok) throw new CoalesceError(r.kind, r.message, r.param);
      return { pixels: r.pixels, bytes: bytes.length, decodeMs: loadMs + r.decodeMs, resizeMs: r.resizeMs };
    } catch (e) {
      // Name the input: with several images, "the image is truncated" alone would not say which.
      if (e instanceof CoalesceError && e.kind === 'validation') throw new CoalesceError(e.kind, `${where}: ${e.message}`, 'inputs');
      throw e;
    }
  }

  private run(bytes: Uint8Array): Promise<ImageJobResult> {
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    slot.busy++;
    // A copy the worker owns (the input may be a view of a larger request buffer).
    const owned = new Uint8Array(bytes);
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, bytes: owned } satisfies ImageJob, [owned.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
