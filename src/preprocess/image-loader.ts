import { CoalesceError, type ErrorKind } from '../errors.js';
import type { ImageLoader, PreparedImage } from '../core/image-types.js';
import { preprocessImage, type ImageDecodeOptions, type ImageProcessorConfig } from './image.js';
import { isUrl, loadImageBytes, type ImageSourceOptions } from './image-source.js';
import { LeastBusyPool } from '../workers/least-busy-pool.js';
import { startReadyWorkers } from '../workers/start-workers.js';
import type { CancelSignal } from '../core/cancellation.js';

/** An encoded image, or a base64 / data: URI string the worker decodes to one; `where` names it in errors. */
export type ImageJob = { id: number; where: string } & ({ bytes: Uint8Array } | { text: string });

export type ImageJobResult =
  | { id: number; ok: true; pixels: Uint8Array; bytes: number; decodeMs: number; resizeMs: number }
  | { id: number; ok: false; kind: ErrorKind; message: string; param?: string };

/**
 * Reads image inputs and decodes and preprocesses them, on the main thread or in N worker
 * threads. URLs are fetched on the main thread (I/O, cancellable); base64 and data: URIs go to
 * the workers as they are, because checking and decoding a 25 kB base64 string was ~20 % of the
 * main thread's time under the image benchmark. The workers decode (WebAssembly or sharp) and
 * take the JS part (Pillow-exact resize, crop), which for a 1024 x 768 photo is tens of
 * milliseconds the event loop would otherwise block.
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
    const started = await startReadyWorkers(workers, new URL('./image-worker.js', import.meta.url), { config, decoding }, 'image-decode');
    return new ImagePreprocessor(
      config,
      decoding,
      source,
      started.length > 0
        ? new LeastBusyPool<ImageJobResult>(
            started.map((s) => s.worker),
            'image',
          )
        : null,
    );
  }

  get workers(): number {
    return this.pool?.size ?? 0;
  }

  async prepare(input: string, where: string, signal?: CancelSignal): Promise<PreparedImage> {
    if (this.pool && !isUrl(input)) return this.onWorker(this.pool, { text: input, where }, [], 0);
    const started = performance.now();
    const bytes = await loadImageBytes(input, this.source, where, signal);
    const loadMs = performance.now() - started;
    // Fetched bytes are their own buffer (readCapped): the worker can have it.
    if (this.pool) return this.onWorker(this.pool, { bytes, where }, [bytes.buffer as ArrayBuffer], loadMs);
    const t = await preprocessImage(bytes, this.config, this.decoding, where);
    return { pixels: t.pixels, bytes: bytes.length, decodeMs: loadMs + t.decodeMs, resizeMs: t.resizeMs };
  }

  private async onWorker(pool: LeastBusyPool<ImageJobResult>, job: Record<string, unknown>, transfer: ArrayBuffer[], loadMs: number): Promise<PreparedImage> {
    const r = await pool.call(job, transfer);
    if (!r.ok) throw new CoalesceError(r.kind, r.message, r.param);
    return { pixels: r.pixels, bytes: r.bytes, decodeMs: loadMs + r.decodeMs, resizeMs: r.resizeMs };
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
