import { CoalesceError, type ErrorKind } from '../errors.js';
import type { ImageLoader, PreparedImage } from '../core/image-types.js';
import { preprocessImage, type ImageDecodeOptions, type ImageProcessorConfig } from './image.js';
import { loadImageBytes, type ImageSourceOptions } from './image-source.js';
import { LeastBusyPool } from '../workers/least-busy-pool.js';
import { startAll, startReadyWorker } from '../workers/start-workers.js';

export interface ImageJob {
  id: number;
  bytes: Uint8Array;
}

export type ImageJobResult =
  | { id: number; ok: true; pixels: Uint8Array; decodeMs: number; resizeMs: number }
  | { id: number; ok: false; kind: ErrorKind; message: string; param?: string };

/**
 * Reads image inputs (base64, data: URI, URL: on the main thread, it is I/O) and decodes and
 * preprocesses them, on the main thread or in N worker threads. Decoding already runs on
 * libuv's pool inside sharp; the workers take the JS part (Pillow-exact resize, crop),
 * which for a 1024 x 768 photo is tens of milliseconds the event loop would otherwise block.
 */
export class ImagePreprocessor implements ImageLoader {
  private constructor(
    private readonly config: ImageProcessorConfig,
    private readonly decoding: ImageDecodeOptions,
    private readonly source: ImageSourceOptions,
    /** Null: preprocess on the main thread (--image-workers 0). */
    private readonly pool: LeastBusyPool<ImageJobResult> | null,
  ) {}

  static async start(config: ImageProcessorConfig, decoding: ImageDecodeOptions, source: ImageSourceOptions, workers: number): Promise<ImagePreprocessor> {
    const started = (await startAll(workers, () => startReadyWorker(new URL('./image-worker.js', import.meta.url), { config, decoding }))).map((s) => s.worker);
    return new ImagePreprocessor(config, decoding, source, started.length > 0 ? new LeastBusyPool<ImageJobResult>(started, 'image') : null);
  }

  get workers(): number {
    return this.pool?.size ?? 0;
  }

  async prepare(input: string, where: string, signal?: AbortSignal): Promise<PreparedImage> {
    const started = performance.now();
    const bytes = await loadImageBytes(input, this.source, where, signal);
    const loadMs = performance.now() - started;
    try {
      if (!this.pool) {
        const t = await preprocessImage(bytes, this.config, this.decoding);
        return { pixels: t.pixels, bytes: bytes.length, decodeMs: loadMs + t.decodeMs, resizeMs: t.resizeMs };
      }
      // A copy the worker owns (the input may be a view of a larger request buffer).
      const owned = new Uint8Array(bytes);
      const r = await this.pool.call({ bytes: owned }, [owned.buffer]);
      if (!r.ok) throw new CoalesceError(r.kind, r.message, r.param);
      return { pixels: r.pixels, bytes: bytes.length, decodeMs: loadMs + r.decodeMs, resizeMs: r.resizeMs };
    } catch (e) {
      // Name the input: with several images, "the image is truncated" alone would not say which.
      if (e instanceof CoalesceError && e.kind === 'validation') throw new CoalesceError(e.kind, `${where}: ${e.message}`, 'inputs');
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
