/** Messages between the main thread (OrtBackend) and the worker threads that own the ORT sessions. */
import type { BatchReply } from './session-threads.js';
import type { OutputKind, ServingGraph } from '../../onnx-graph/serving-graph.js';
import type { ModelManifest } from '../../model-prep/manifest.js';
import type { Config } from '../../config.js';
import type { Provider } from '../../settings.js';

export interface SessionSettings {
  /** cpu, cuda, cuda:N or auto (auto: CUDA when its provider loads, else CPU). */
  device: string;
  intraOpThreads: number;
  /** Sessions (one worker thread each) sharing the device; 0: 1 on CPU, 2 on CUDA. */
  sessions?: number;
  /** Append pooling to token-level graphs (default true). */
  poolInGraph?: boolean;
  /** Round sequence lengths / row counts up to multiples of these (0 or unset: the device's default). */
  seqMultiple?: number;
  batchMultiple?: number;
  /** ONNX Runtime's memory pattern planning: 'auto' (ORT's default, on), 'on' or 'off'. */
  memPattern?: Config['memPattern'];
  /**
   * 'on': sequence lengths padded to multiples of 32 (or seqMultiple), row counts to powers of two,
   * and every such shape within warmupTokens / warmupRows run once per session at load; 'auto':
   * on for CUDA, off on CPU; 'off' (default here): only seqMultiple / batchMultiple.
   */
  shapeBuckets?: Config['shapeBuckets'];
  /** The batcher's budgets (--max-batch-tokens, --max-batch-requests): the shapes worth warming. */
  warmupTokens?: number;
  warmupRows?: number;
  /** 'load' (default): every bucket shape before the model reports loaded; 'background': the common ones, the rest while serving. */
  shapeWarmup?: Config['shapeWarmup'];
  /** 'on': small bucket shapes from CUDA graphs (cuda-graph-lane.ts); 'cpu-simulation': the same path on CPU memory, without graphs (tests). */
  cudaGraphs?: Config['cudaGraphs'] | 'cpu-simulation';
  /** The largest padded batch (inputs x padded length) whose bucket shapes the lane captures (default 1024). */
  cudaGraphTokens?: number;
  /** The process's DeviceCallLock (device-call-lock.ts); set by OrtBackend for every session thread. */
  deviceLock?: SharedArrayBuffer;
}

export interface LoadRequest {
  type: 'load';
  manifest: ModelManifest;
  settings: SessionSettings;
  /** Prepared once on the main thread; bytes shared by every worker. */
  graph: ServingGraph;
}

/** Inputs of one batch, packed flat so the buffers can be transferred instead of copied. */
export interface EmbedMessage {
  type: 'embed';
  id: number;
  /** Concatenated token ids of every input. */
  ids: Uint32Array;
  typeIds: Uint8Array;
  lengths: Uint32Array;
  /** Answer every input's token states (one vector per token) instead of its pooled vector. */
  tokens?: boolean;
}

export interface SessionFacts {
  inputNames: string[];
  outputName: string;
  outputKind: OutputKind;
  /** The token states output, when the graph has one (EmbedMessage.tokens fetches it). */
  tokenOutput: string | null;
  /** Pooling runs inside the graph (appended at load), not on the host. */
  pooledInGraph: boolean;
  dimensions: number;
  /** The execution provider that runs the graph. */
  provider: Provider;
  /** The device as /info shows it: cpu or cuda:N. */
  device: string;
  /** Why --device auto fell back to the CPU, or why pooling stayed on the host. */
  notes: string[];
  /** Shapes run at load (shape buckets), how long that took, and the bucket shapes in all (the rest warm while serving). */
  warmup: { shapes: number; ms: number; total: number };
}

export type FromWorker =
  | { type: 'loaded'; facts: SessionFacts }
  | { type: 'load-failed'; file: string; problem: string }
  /** The device cannot be used at all (not the model's fault). */
  | { type: 'device-failed'; problem: string }
  /** A shape warmed while serving (--shape-warmup background): `done` of `total` are warm now. */
  | WarmupProgress
  | BatchReply;

export interface WarmupProgress {
  type: 'warmup-progress';
  done: number;
  total: number;
}
