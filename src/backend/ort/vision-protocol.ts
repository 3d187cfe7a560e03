/** Messages between the main thread (VisionBackend) and the worker threads that own the vision sessions. */
import type { BatchReply } from './session-threads.js';
import type { Config } from '../../config.js';

export interface VisionLoadRequest {
  type: 'load';
  /** The vision tower's graph file. */
  path: string;
  /** Already resolved by the text sessions: cpu or cuda:N. */
  device: string;
  intraOpThreads: number;
  /** --shape-buckets: when on for the device, batches are padded to imageBucket sizes, each run once at load up to maxBatchImages. */
  shapeBuckets: Config['shapeBuckets'];
  maxBatchImages: number;
  /** The [height, width, 3] the preprocessing produces. */
  height: number;
  width: number;
  /** The process's DeviceCallLock (device-call-lock.ts), held around every call into ONNX Runtime. */
  deviceLock: SharedArrayBuffer;
}

/** One batch: [height, width, 3] uint8 images (their buffers transferred, not copied); the worker stacks them. */
export interface VisionEmbedMessage {
  type: 'embed';
  id: number;
  images: Uint8Array[];
}

export interface VisionFacts {
  /** Batch shapes run at load (shape buckets), and how long that took. */
  warmup: { shapes: number; ms: number };
  outputName: string;
  dimensions: number;
  provider: string;
  device: string;
}

export type VisionFromWorker = { type: 'loaded'; facts: VisionFacts } | { type: 'load-failed'; problem: string } | BatchReply;
