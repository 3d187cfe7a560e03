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
  'sessions' | 'padSeqMultiple' | 'padBatchMultiple' | 'shapeBuckets' | 'memPattern' | 'batchQueue' | 'intraOpThreads' | 'maxInputLength' | 'dtype' | 'quantize'
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
  /** The weights' type, as /info's model_dtype (int8: a pre-quantized graph or --quantize). */
  dtype: 'float32' | 'float16' | 'int8';
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

/** --dtype unset: float32; --quantize makes it int8. */
export function resolveDtype(dtype: Config['dtype'], quantize: Config['quantize']): Settings['dtype'] {
  return quantize !== 'none' ? 'int8' : (dtype ?? 'float32');
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
    dtype: resolveDtype(config.dtype, config.quantize),
  };
}

/**
 * Pre-quantized graphs --dtype int8 serves, in order of preference: transformers.js's int8 and q8
 * files, optimum's quantizer output, transformers.js's uint8 file, then sentence-transformers'
 * exports tuned per CPU (all of them run on any x86 or Arm CPU).
 */
export const INT8_GRAPHS = [
  'onnx/model_int8.onnx',
  'onnx/model_quantized.onnx',
  'model_quantized.onnx',
  'onnx/model_uint8.onnx',
  'onnx/model_qint8_avx512_vnni.onnx',
  'onnx/model_qint8_avx512.onnx',
  'onnx/model_quint8_avx2.onnx',
  'onnx/model_qint8_arm64.onnx',
];
/** The same for image-text towers in the transformers.js layout (onnx/{text,vision}_model_<variant>.onnx). */
export const INT8_VARIANTS = ['int8', 'quantized', 'uint8'];

/** The graphs --dtype picks from, in order; null: the default choice (model.onnx, onnx/model.onnx, ...). */
export function dtypeGraphs(dtype: Config['dtype']): readonly string[] | null {
  return dtype === 'float16' ? ['onnx/model_fp16.onnx'] : dtype === 'int8' ? INT8_GRAPHS : null;
}

/** The tower variants --dtype picks from, in order; null: the fp32 towers. */
export function dtypeVariants(dtype: Config['dtype']): readonly string[] | null {
  return dtype === 'float16' ? ['fp16'] : dtype === 'int8' ? INT8_VARIANTS : null;
}

/**
 * The model files --dtype asks for, before anything is read: float16 is the fp16 ONNX file
 * (onnx/model_fp16.onnx, as Optimum and transformers.js lay models out) or, for image-text
 * models, the fp16 variant of both towers; int8 is the first pre-quantized graph (or tower
 * variant) the folder has, by `present`. config.ts refuses --dtype together with --onnx-file or
 * --onnx-variant, so nothing given is overridden.
 */
export function resolveModelFiles(
  config: Pick<Config, 'dtype' | 'onnxFile' | 'onnxVariant'>,
  visionLanguage: boolean,
  present: (file: string) => boolean = () => false,
): { onnxFile: string | null; onnxVariant: string | null } {
  const graphs = dtypeGraphs(config.dtype);
  const variants = dtypeVariants(config.dtype);
  if (visionLanguage) {
    const variant = variants && (variants.find((v) => present(`onnx/text_model_${v}.onnx`)) ?? variants[0]);
    return { onnxFile: config.onnxFile, onnxVariant: variant ?? config.onnxVariant };
  }
  if (!graphs) return { onnxFile: config.onnxFile, onnxVariant: null };
  const found = graphs.find(present);
  if (!found && config.dtype === 'int8') {
    throw new Int8FilesError(
      `--dtype int8: the model has none of ${INT8_GRAPHS.join(', ')}; give --onnx-file to name its int8 graph, or use --quantize dynamic-int8 to quantize its float32 graph at load`,
    );
  }
  return { onnxFile: found ?? graphs[0], onnxVariant: null };
}

/** The folder has no pre-quantized graph for --dtype int8. */
export class Int8FilesError extends Error {
  override name = 'Int8FilesError';
}
