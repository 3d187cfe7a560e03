/**
 * A worker thread that owns one vision-tower session (CLIP / SigLIP image encoder), on the device
 * the text sessions resolved: same process, same CUDA context, its own thread because
 * `session.run` blocks the thread it runs on. It receives stacked [H, W, 3] uint8 images (the
 * graph normalizes them: pixel-input.ts), runs, and sends back [B, D] (transferred).
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { DeviceCallLock } from './device-call-lock.js';
import { cudaUnavailableMessage, parseDevice } from './device.js';
import { pooledRows, serveBatches, sessionOptions, type RunOutput } from './worker-common.js';
import { resolveIntraOpThreads, resolveShapeBuckets } from '../../settings.js';
import { imageBucket } from './tensors.js';
import { PIXELS_INPUT } from '../../onnx-graph/pixel-input.js';
import type { VisionEmbedMessage, VisionFacts, VisionFromWorker, VisionLoadRequest } from './vision-protocol.js';

/** Which output carries the image embedding, in order of preference. */
export const IMAGE_OUTPUTS = ['image_embeds', 'pooler_output', 'embeddings', 'image_embedding'];

interface Loaded {
  session: ort.InferenceSession;
  facts: VisionFacts;
  height: number;
  width: number;
  buckets: boolean;
  /** Where batches are stacked, reused (grown as needed): session.run has copied its input when it returns. */
  stack: Uint8Array;
}

let loaded: Loaded | null = null;
/** Held shared around every call into ONNX Runtime: a text session thread may be capturing a CUDA graph. */
let deviceCalls = new DeviceCallLock();

function post(message: VisionFromWorker): void {
  parentPort!.postMessage(message);
}

async function load(req: VisionLoadRequest): Promise<Loaded> {
  deviceCalls = new DeviceCallLock(req.deviceLock);
  const target = parseDevice(req.device);
  const onCuda = target.kind === 'cuda';
  const provider = onCuda ? 'cuda' : 'cpu';
  const options = sessionOptions(onCuda ? [{ name: 'cuda', deviceId: target.id }] : ['cpu'], resolveIntraOpThreads(req.intraOpThreads, provider));
  let session: ort.InferenceSession;
  try {
    session = await deviceCalls.shared(() => ort.InferenceSession.create(req.path, options));
  } catch (e) {
    const message = (e as Error).message;
    if (onCuda && /cuda|provider/i.test(message)) throw new Error(`--device ${req.device}: ${cudaUnavailableMessage(message)}`);
    throw new Error(`${req.path}: cannot be loaded by ONNX Runtime: ${message}`);
  }
  const inputs = session.inputNames;
  if (inputs.length !== 1 || inputs[0] !== PIXELS_INPUT) {
    throw new Error(`${req.path}: a vision tower prepared for serving takes ${PIXELS_INPUT} only (inputs: ${inputs.join(', ')})`);
  }
  const meta = session.inputMetadata[0];
  const shape = meta.isTensor ? meta.shape : [];
  if (!meta.isTensor || meta.type !== 'uint8' || shape.length !== 4 || shape[1] !== req.height || shape[2] !== req.width || shape[3] !== 3) {
    throw new Error(`${req.path}: ${PIXELS_INPUT} is not uint8 [batch, ${req.height}, ${req.width}, 3]`);
  }
  const names = session.outputNames;
  const outputName = IMAGE_OUTPUTS.find((n) => names.includes(n)) ?? (names.length === 1 ? names[0] : null);
  if (!outputName) throw new Error(`${req.path}: no image embedding output (outputs: ${names.join(', ')}; expected one of ${IMAGE_OUTPUTS.join(', ')})`);
  const l: Loaded = {
    session,
    height: req.height,
    width: req.width,
    buckets: resolveShapeBuckets(req.shapeBuckets, provider),
    stack: new Uint8Array(0),
    facts: {
      warmup: { shapes: 0, ms: 0 },
      outputName,
      dimensions: 0,
      provider: onCuda ? 'cuda' : 'cpu',
      device: onCuda ? `cuda:${target.kind === 'cuda' ? target.id : 0}` : 'cpu',
    },
  };
  // A probe run (batch size 1, the first bucket) tells the output width and proves the graph runs.
  const probe = await run(l, new Uint8Array(3 * req.height * req.width), 1);
  l.facts.dimensions = probe.dimensions;
  if (l.buckets) l.facts.warmup = await warmBuckets(l, req.maxBatchImages);
  return l;
}

/**
 * Runs every bucket batch size once: the CUDA provider pays tens of milliseconds (cuDNN's
 * convolution search among them) the first time a session meets a shape, and the image batcher
 * would otherwise bring a new batch size most calls.
 */
async function warmBuckets(l: Loaded, maxBatchImages: number): Promise<{ shapes: number; ms: number }> {
  const started = performance.now();
  const size = l.height * l.width * 3;
  // Warmed on the batch buffer itself, still blank: allocated once at its largest, never regrown while serving.
  l.stack = new Uint8Array(imageBucket(maxBatchImages) * size);
  let shapes = 1; // batch size 1: the probe
  for (let rows = imageBucket(2); rows <= imageBucket(maxBatchImages); rows = imageBucket(rows + 1)) {
    await run(l, l.stack.subarray(0, rows * size), rows);
    shapes++;
  }
  return { shapes, ms: performance.now() - started };
}

/** `pixels` holds `count` images, then any blank filler images (shape buckets), whose vectors are dropped. */
async function run(l: Loaded, pixels: Uint8Array, count: number): Promise<RunOutput> {
  const size = l.height * l.width * 3;
  const rows = pixels.length / size;
  if (!Number.isInteger(rows) || rows < count) throw new Error(`got ${pixels.length} pixel bytes for ${count} images of [${l.height}, ${l.width}, 3]`);
  const input = new ort.Tensor('uint8', pixels, [rows, l.height, l.width, 3]);
  const results = await deviceCalls.shared(() => l.session.run({ [PIXELS_INPUT]: input }, [l.facts.outputName]));
  const { rows: vectors, dimensions } = pooledRows(results[l.facts.outputName], l.facts.outputName, rows, count);
  return { vectors, dimensions };
}

/**
 * The batch's images stacked into this size's buffer, padded to its bucket when buckets are on.
 * Filler rows keep whatever an earlier batch left there: their vectors are dropped.
 */
function stack(l: Loaded, images: Uint8Array[]): Uint8Array {
  const size = l.height * l.width * 3;
  const rows = l.buckets ? imageBucket(images.length) : images.length;
  if (l.stack.length < rows * size) l.stack = new Uint8Array(rows * size);
  const batch = l.stack.subarray(0, rows * size);
  images.forEach((img, i) => batch.set(img, i * size));
  return batch;
}

serveBatches<VisionLoadRequest, VisionEmbedMessage>(
  async (message) => {
    try {
      loaded = await load(message);
      post({ type: 'loaded', facts: loaded.facts });
    } catch (e) {
      post({ type: 'load-failed', problem: (e as Error).message });
    }
  },
  async (message) => {
    if (!loaded) throw new Error('no vision model is loaded');
    return run(loaded, stack(loaded, message.images), message.images.length);
  },
);
