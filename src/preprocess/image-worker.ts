/** A worker thread that reads, decodes and preprocesses images (see image-loader.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { isCoalesceError } from '../errors.js';
import { preprocessImage, type ImageDecodeOptions, type ImageProcessorConfig } from './image.js';
import { loadImageBytes, type ImageSourceOptions } from './image-source.js';
import type { ImageJob, ImageJobResult } from './image-loader.js';

const { config, decoding, source } = workerData as { config: ImageProcessorConfig; decoding: ImageDecodeOptions; source: ImageSourceOptions };
const port = parentPort!;

function failure(id: number, e: unknown, named: boolean): ImageJobResult {
  return isCoalesceError(e)
    ? { id, ok: false, kind: e.kind, message: e.message, param: e.param, named }
    : { id, ok: false, kind: 'backend', message: (e as Error).message };
}

port.on('message', async (job: ImageJob) => {
  const started = performance.now();
  let bytes: Uint8Array;
  try {
    bytes = 'bytes' in job ? job.bytes : await loadImageBytes(job.text, source, job.where);
  } catch (e) {
    port.postMessage(failure(job.id, e, true));
    return;
  }
  const loadMs = performance.now() - started;
  try {
    const t = await preprocessImage(bytes, config, decoding);
    const reply: ImageJobResult = { id: job.id, ok: true, pixels: t.pixels, bytes: bytes.length, decodeMs: loadMs + t.decodeMs, resizeMs: t.resizeMs };
    port.postMessage(reply, [t.pixels.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage(failure(job.id, e, false));
  }
});
port.postMessage({ id: 0, ok: true, ready: true });
