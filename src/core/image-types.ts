/** Shapes of the image path of the core. Nothing here knows about sharp, HTTP or ONNX Runtime. */
import type { BatchResult } from './types.js';
import type { CancelSignal } from './cancellation.js';

/** One image after preprocessing: what the image batcher queues and the vision backend runs. */
export interface PreprocessedImage {
  /** [height, width, 3] 8-bit RGB, resized and cropped; the vision graph rescales and normalizes it. */
  readonly pixels: Uint8Array;
}

/** A preprocessed image and where its preprocessing time went. */
export interface PreparedImage extends PreprocessedImage {
  /** Bytes of the encoded image. */
  bytes: number;
  /** Reading the input (base64, data: URI or URL fetch) and decoding it. */
  decodeMs: number;
  /** Resize and crop. */
  resizeMs: number;
}

/** Turns image inputs (base64, data: URI, URL) into tensors; implemented in src/preprocess. */
export interface ImageLoader {
  /** `where` names the input in errors, e.g. "inputs[2]"; bad images throw 4xx CoalesceErrors. */
  prepare(input: string, where: string, signal?: CancelSignal): Promise<PreparedImage>;
  close(): Promise<void>;
}

export interface VisionModelInfo {
  dimensions: number;
  /** The images the vision tower takes: [B, height, width, 3]. */
  height: number;
  width: number;
  /** Images cost the same whatever their source size: no padding. */
  padded: false;
  device: string;
  provider: string;
  /** The graph the vision tower runs, as /info shows it. */
  onnxFile: string;
  outputName: string;
  /** The element type of the images fed (uint8: normalized inside the graph). */
  inputType: string;
  /** Batch shapes each session ran at load (0 without shape buckets), and the slowest session's time. */
  warmup: { shapes: number; ms: number };
}

/** The seam to the vision runtime; one call runs one batch of images. */
export interface ImageBackend {
  readonly info: VisionModelInfo;
  readonly maxConcurrentBatches: number;
  embed(batch: { inputs: readonly PreprocessedImage[] }): Promise<BatchResult>;
  close(): Promise<void>;
}
