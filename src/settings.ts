/**
 * What every `auto` and every `0: the default` of the config means, decided in one place: pure
 * functions from the config and the facts known at start (the execution provider that actually
 * loaded, the model's own input limit) to the settings that run. The session workers call the
 * pieces they need once their provider is known; the composition root calls resolveSettings for
 * the rest and for /info.
 */
import { availableParallelism } from 'node:os';
import type { Config } from './config.js';

export type Provider = 'cpu' | 'cuda';

export interface Facts {
  /** The execution provider the model's sessions loaded with. */
  provider: Provider;
  /** The model's own limit on tokens per input (tokenizer / config). */
  modelMaxLength: number;
}

export type Tuning = Pick<
  Config,
  'sessions' | 'padSeqMultiple' | 'padBatchMultiple' | 'shapeBuckets' | 'memPattern' | 'batchQueue' | 'intraOpThreads' | 'maxInputLength' | 'dtype'
>;

export interface Settings {
  sessions: number;
  shapeBuckets: boolean;
  padSeqMultiple: number;
  padBatchMultiple: number;
  memPattern: boolean;
  batchQueue: 'shared' | 'main';
  /** null: ONNX Runtime's own default (one thread per physical core). */
  intraOpThreads: number | null;
  maxInputLength: number;
  /** The weights' float type, as /info's model_dtype. */
  dtype: 'float32' | 'float16';
}

/** Sequence multiple on CUDA when --pad-seq-multiple is 0 and shape buckets are off (the fastest multiple measured on an H100). */
export const CUDA_SEQ_MULTIPLE = 8;
/** Sequence multiple of shape buckets: 16 lengths up to 512, so warming every bucket stays short. */
export const BUCKET_SEQ_MULTIPLE = 32;

/** --sessions 0: a second CUDA session uploads and launches while the first computes; on CPU one session already uses every core. */
export function resolveSessions(sessions: number, provider: Provider): number {
  return sessions > 0 ? sessions : provider === 'cuda' ? 2 : 1;
}

/** --shape-buckets auto: on with CUDA, where every new shape costs a slow first run; off on CPU. */
export function resolveShapeBuckets(mode: Config['shapeBuckets'], provider: Provider): boolean {
  return mode === 'on' || (mode === 'auto' && provider === 'cuda');
}

/** --pad-seq-multiple 0: 32 with shape buckets, else 8 on CUDA and 1 (no padding) on CPU. */
export function resolvePadSeqMultiple(multiple: number, shapeBuckets: boolean, provider: Provider): number {
  return multiple > 0 ? multiple : shapeBuckets ? BUCKET_SEQ_MULTIPLE : provider === 'cuda' ? CUDA_SEQ_MULTIPLE : 1;
}

/** --pad-batch-multiple 0: 1, no filler rows. */
export function resolvePadBatchMultiple(multiple: number): number {
  return multiple > 0 ? multiple : 1;
}

/** --mem-pattern auto: ONNX Runtime's default, on. */
export function resolveMemPattern(mode: Config['memPattern']): boolean {
  return mode !== 'off';
}

/** --batch-queue auto: the shared queue with CUDA; the main thread on the CPU, where one session's run already takes every core. */
export function resolveBatchQueue(mode: Config['batchQueue'], provider: Provider): 'shared' | 'main' {
  return mode === 'auto' ? (provider === 'cuda' ? 'shared' : 'main') : mode;
}

/**
 * --intra-op-threads: on CUDA the CPU only runs shape arithmetic, so one thread (no spinning pool
 * steals cores from the event loop, the tokenizers and the image decoders); on the CPU 0 leaves
 * ONNX Runtime's default.
 */
export function resolveIntraOpThreads(threads: number, provider: Provider): number | null {
  if (provider === 'cuda') return 1;
  return threads > 0 ? threads : null;
}

/** --max-input-length 0: the model's own limit; a cap never raises it. */
export function resolveMaxInputLength(cap: number, modelMaxLength: number): number {
  return cap > 0 ? Math.min(cap, modelMaxLength) : modelMaxLength;
}

/** --tokenization-workers auto: one worker thread when there are two cores or more (tokenizing off the event loop), else inline. */
export function resolveTokenizationWorkers(value: string, cores = availableParallelism()): number {
  if (value !== 'auto') return Number(value);
  return cores >= 2 ? 1 : 0;
}

/** --dtype unset: float32. */
export function resolveDtype(dtype: Config['dtype']): 'float32' | 'float16' {
  return dtype ?? 'float32';
}

export function resolveSettings(config: Tuning, facts: Facts): Settings {
  const shapeBuckets = resolveShapeBuckets(config.shapeBuckets, facts.provider);
  return {
    sessions: resolveSessions(config.sessions, facts.provider),
    shapeBuckets,
    padSeqMultiple: resolvePadSeqMultiple(config.padSeqMultiple, shapeBuckets, facts.provider),
    padBatchMultiple: resolvePadBatchMultiple(config.padBatchMultiple),
    memPattern: resolveMemPattern(config.memPattern),
    batchQueue: resolveBatchQueue(config.batchQueue, facts.provider),
    intraOpThreads: resolveIntraOpThreads(config.intraOpThreads, facts.provider),
    maxInputLength: resolveMaxInputLength(config.maxInputLength, facts.modelMaxLength),
    dtype: resolveDtype(config.dtype),
  };
}

/**
 * The model files --dtype asks for, before anything is read: float16 is the fp16 ONNX file
 * (onnx/model_fp16.onnx, as Optimum and transformers.js lay models out) or, for image-text
 * models, the fp16 variant of both towers. config.ts refuses --dtype together with --onnx-file
 * or --onnx-variant, so nothing given is overridden.
 */
export function resolveModelFiles(
  config: Pick<Config, 'dtype' | 'onnxFile' | 'onnxVariant'>,
  visionLanguage: boolean,
): { onnxFile: string | null; onnxVariant: string | null } {
  const fp16 = config.dtype === 'float16';
  if (visionLanguage) return { onnxFile: config.onnxFile, onnxVariant: fp16 ? 'fp16' : config.onnxVariant };
  return { onnxFile: fp16 ? 'onnx/model_fp16.onnx' : config.onnxFile, onnxVariant: null };
}
