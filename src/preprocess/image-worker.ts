/** A worker thread that decodes and preprocesses images, base64 included (see image-loader.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { isCoalesceError } from '../errors.js';
import { transferable } from '../workers/transferable.js';
import { preprocessImage, type ImageDecodeOptions, type ImageProcessorConfig } from './image.js';
import { decodeImageText } from './image-source.js';
import type { ImageJob, ImageJobResult } from './image-loader.js';

const { config, decoding } = workerData as { config: ImageProcessorConfig; decoding: ImageDecodeOptions };
const port = parentPort!;

port.on('message', async (job: ImageJob) => {
  const started = performance.now();
  try {
    // Both steps name the input (job.where) in their errors.
    // URLs were fetched on the main thread: text here is base64 or a data: URI.
    const bytes = 'bytes' in job ? job.bytes : decodeImageText(job.text, job.where);
    const loadMs = performance.now() - started;
    const t = await preprocessImage(bytes, config, decoding, job.where);
    const reply: ImageJobResult = { id: job.id, ok: true, pixels: t.pixels, bytes: bytes.length, decodeMs: loadMs + t.decodeMs, resizeMs: t.resizeMs };
    port.postMessage(reply, transferable([t.pixels.buffer]));
  } catch (e) {
    const reply: ImageJobResult = isCoalesceError(e)
      ? { id: job.id, ok: false, kind: e.kind, message: e.message, param: e.param }
      : { id: job.id, ok: false, kind: 'backend', message: (e as Error).message };
    port.postMessage(reply);
  }
});
port.postMessage({ id: 0, ok: true, ready: true });
