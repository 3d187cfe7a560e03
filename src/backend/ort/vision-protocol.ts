/** Messages between the main thread (VisionBackend) and the worker threads that own the vision sessions. */
import type { BatchReply } from './session-threads.js';

export interface VisionLoadRequest {
  type: 'load';
  /** The vision tower's graph file. */
  path: string;
  /** Already resolved by the text sessions: cpu or cuda:N. */
  device: string;
  intraOpThreads: number;
  /** The [3, height, width] the preprocessing produces. */
  height: number;
  width: number;
}

/** One batch: `count` CHW float32 images, concatenated (transferred, not copied). */
export interface VisionEmbedMessage {
  type: 'embed';
  id: number;
  pixels: Float32Array;
  count: number;
}

export interface VisionFacts {
  inputType: 'float32' | 'float16';
  outputName: string;
  dimensions: number;
  provider: string;
  device: string;
}

export type VisionFromWorker =
  | { type: 'loaded'; facts: VisionFacts }
  | { type: 'load-failed'; problem: string }
  | BatchReply;
