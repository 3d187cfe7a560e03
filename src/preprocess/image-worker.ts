/** A worker thread that decodes and preprocesses images (see image-loader.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { isCoalesceError } from '../errors.js';
import { preprocessImage, type ImageDecodeOptions, type ImageProcessorConfig } from './image.js';
import type { ImageJob, ImageJobResult } from './image-loader.js';

const { config, decoding } = workerData as { config: ImageProcessorConfig; decoding: ImageDecodeOptions };
const port = parentPort!;

port.on('message', async (job: ImageJob) => {
  let reply: ImageJobResult;
  const transfer: ArrayBuffer[] = [];
  try {
    const t = await preprocessImage(job.bytes, config, decoding);
    reply = { id: job.id, ok: true, pixels: t.pixels, decodeMs: t.decodeMs, resizeMs: t.resizeMs };
    transfer.push(t.pixels.buffer as ArrayBuffer);
  } catch (e) {
    reply = isCoalesceError(e)
      ? { id: job.id, ok: false, kind: e.kind, message: e.message, param: e.param }
      : { id: job.id, ok: false, kind: 'backend', message: (e as Error).message };
  }
  port.postMessage(reply, transfer);
});
port.postMessage({ id: 0, ok: true, ready: true });
