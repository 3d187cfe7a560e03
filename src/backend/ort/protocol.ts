/** Messages between the main thread (OrtBackend) and the worker thread that owns the ORT sessions. */
import type { ModelManifest } from '../manifest.js';

export interface SessionSettings {
  device: string;
  intraOpThreads: number;
}

export interface LoadRequest {
  type: 'load';
  manifest: ModelManifest;
  settings: SessionSettings;
}

/** Inputs of one batch, packed flat so the buffers can be transferred instead of copied. */
export interface EmbedMessage {
  type: 'embed';
  id: number;
  /** Concatenated token ids of every input. */
  ids: Uint32Array;
  typeIds: Uint8Array;
  lengths: Uint32Array;
}

export type ToWorker = LoadRequest | EmbedMessage;

export interface SessionFacts {
  inputNames: string[];
  outputName: string;
  outputKind: 'pooled' | 'token';
  dimensions: number;
  provider: string;
}

export type FromWorker =
  | { type: 'loaded'; facts: SessionFacts }
  | { type: 'load-failed'; file: string; problem: string }
  | { type: 'result'; id: number; vectors: Float32Array; dimensions: number }
  | { type: 'failed'; id: number; message: string };
