/**
 * ONNX Runtime's C API called from JavaScript through koffi (an FFI library with prebuilt binaries),
 * on the very libonnxruntime.so.1 that onnxruntime-node ships: no compiler, and whatever the Node
 * binding does not expose (IO binding to device buffers, CUDA provider options beyond the device id,
 * run config entries such as `gpu_graph_id`) is one function pointer away.
 *
 * Every status-returning call goes through `check`, which turns a non-null OrtStatus into an
 * `OrtCApiError` carrying ORT's message and releases the status. Handles are BigInt pointers wrapped
 * in small classes (ort-objects.ts) that refuse use after release.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as KoffiModule from 'koffi';
import { API, type ApiName, ORT_API_VERSION } from './api-index.js';

export type Koffi = typeof KoffiModule;
/** A native pointer as koffi 3 gives it (null for NULL). */
export type Ptr = bigint;

/** Loaded on first use: a server that never asks for the C API never loads koffi's native module. */
export function loadKoffi(): Koffi {
  return createRequire(import.meta.url)('koffi') as Koffi;
}

/** The libonnxruntime.so.1 that onnxruntime-node loads (its CUDA provider, where installed, sits beside it). */
export function onnxruntimeNodeLibrary(): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime.so.1');
}

const ERROR_CODES = [
  'ORT_OK',
  'ORT_FAIL',
  'ORT_INVALID_ARGUMENT',
  'ORT_NO_SUCHFILE',
  'ORT_NO_MODEL',
  'ORT_ENGINE_ERROR',
  'ORT_RUNTIME_EXCEPTION',
  'ORT_INVALID_PROTOBUF',
  'ORT_MODEL_LOADED',
  'ORT_NOT_IMPLEMENTED',
  'ORT_INVALID_GRAPH',
  'ORT_EP_FAIL',
];

export class OrtCApiError extends Error {
  constructor(
    readonly fn: string,
    readonly code: number,
    ortMessage: string,
  ) {
    super(`${fn}: ${ERROR_CODES[code] ?? `code ${code}`}: ${ortMessage}`);
    this.name = 'OrtCApiError';
  }
}

/**
 * C signatures by member name. Handles and out-parameters are `void *`: out-parameters are passed as
 * one-element BigUint64Array / Int32Array scratch buffers, which koffi hands over by address.
 */
const SIGNATURES: Record<ApiName, [result: string, args: string]> = {
  CreateStatus: ['void *', 'int code, const char *msg'],
  GetErrorCode: ['int', 'void *status'],
  GetErrorMessage: ['const char *', 'void *status'],
  CreateEnv: ['void *', 'int level, const char *logid, void *out'],
  CreateSession: ['void *', 'void *env, const char *path, void *options, void *out'],
  CreateSessionFromArray: ['void *', 'void *env, const void *data, size_t length, void *options, void *out'],
  CreateSessionOptions: ['void *', 'void *out'],
  EnableMemPattern: ['void *', 'void *options'],
  DisableMemPattern: ['void *', 'void *options'],
  SetSessionGraphOptimizationLevel: ['void *', 'void *options, int level'],
  SetIntraOpNumThreads: ['void *', 'void *options, int n'],
  SetInterOpNumThreads: ['void *', 'void *options, int n'],
  SessionGetInputCount: ['void *', 'void *session, void *out'],
  SessionGetOutputCount: ['void *', 'void *session, void *out'],
  SessionGetInputTypeInfo: ['void *', 'void *session, size_t index, void *out'],
  SessionGetOutputTypeInfo: ['void *', 'void *session, size_t index, void *out'],
  SessionGetInputName: ['void *', 'void *session, size_t index, void *allocator, void *out'],
  SessionGetOutputName: ['void *', 'void *session, size_t index, void *allocator, void *out'],
  CreateRunOptions: ['void *', 'void *out'],
  CreateTensorAsOrtValue: ['void *', 'void *allocator, void *shape, size_t rank, int type, void *out'],
  CreateTensorWithDataAsOrtValue: ['void *', 'void *info, void *data, size_t bytes, void *shape, size_t rank, int type, void *out'],
  GetTensorMutableData: ['void *', 'void *value, void *out'],
  CastTypeInfoToTensorInfo: ['void *', 'void *typeInfo, void *out'],
  GetTensorElementType: ['void *', 'void *info, void *out'],
  GetDimensionsCount: ['void *', 'void *info, void *out'],
  GetDimensions: ['void *', 'void *info, void *dims, size_t count'],
  GetTensorTypeAndShape: ['void *', 'void *value, void *out'],
  CreateMemoryInfo: ['void *', 'const char *name, int allocatorType, int id, int memType, void *out'],
  CreateCpuMemoryInfo: ['void *', 'int allocatorType, int memType, void *out'],
  MemoryInfoGetName: ['void *', 'void *info, void *out'],
  AllocatorAlloc: ['void *', 'void *allocator, size_t size, void *out'],
  AllocatorFree: ['void *', 'void *allocator, void *p'],
  GetAllocatorWithDefaultOptions: ['void *', 'void *out'],
  ReleaseEnv: ['void', 'void *p'],
  ReleaseStatus: ['void', 'void *p'],
  ReleaseMemoryInfo: ['void', 'void *p'],
  ReleaseSession: ['void', 'void *p'],
  ReleaseValue: ['void', 'void *p'],
  ReleaseRunOptions: ['void', 'void *p'],
  ReleaseTypeInfo: ['void', 'void *p'],
  ReleaseTensorTypeAndShapeInfo: ['void', 'void *p'],
  ReleaseSessionOptions: ['void', 'void *p'],
  AddSessionConfigEntry: ['void *', 'void *options, const char *key, const char *value'],
  CreateAllocator: ['void *', 'void *session, void *info, void *out'],
  ReleaseAllocator: ['void', 'void *p'],
  RunWithBinding: ['void *', 'void *session, void *runOptions, void *binding'],
  CreateIoBinding: ['void *', 'void *session, void *out'],
  ReleaseIoBinding: ['void', 'void *p'],
  BindInput: ['void *', 'void *binding, const char *name, void *value'],
  BindOutput: ['void *', 'void *binding, const char *name, void *value'],
  BindOutputToDevice: ['void *', 'void *binding, const char *name, void *info'],
  GetBoundOutputValues: ['void *', 'void *binding, void *allocator, void *out, void *count'],
  ClearBoundInputs: ['void', 'void *binding'],
  ClearBoundOutputs: ['void', 'void *binding'],
  AddRunConfigEntry: ['void *', 'void *runOptions, const char *key, const char *value'],
  GetTensorMemoryInfo: ['void *', 'void *value, void *out'],
  SessionOptionsAppendExecutionProvider_CUDA_V2: ['void *', 'void *options, void *cudaOptions'],
  CreateCUDAProviderOptions: ['void *', 'void *out'],
  UpdateCUDAProviderOptions: ['void *', 'void *cudaOptions, const char **keys, const char **values, size_t count'],
  GetCUDAProviderOptionsAsString: ['void *', 'void *cudaOptions, void *allocator, void *out'],
  ReleaseCUDAProviderOptions: ['void', 'void *p'],
  GetBuildInfoString: ['const char *', ''],
  RegisterExecutionProviderLibrary: ['void *', 'void *env, const char *name, const char *path'],
  UnregisterExecutionProviderLibrary: ['void *', 'void *env, const char *name'],
  GetRunConfigEntry: ['const char *', 'void *runOptions, const char *key'],
  CopyTensors: ['void *', 'void *env, void *src, void *dst, void *stream, size_t count'],
};

/** koffi callables take and give whatever the C signature says. */
// biome-ignore lint/suspicious/noExplicitAny: the C signature, not TypeScript, types a koffi call's arguments and result
type NativeFn = (...args: any[]) => any;

const shared = new Map<string, OrtCApi>();

export class OrtCApi {
  /**
   * One per library and thread: koffi names every prototype it declares in one registry per
   * thread, so a second table over the same library would clash with the first.
   */
  static shared(libraryPath: string = onnxruntimeNodeLibrary()): OrtCApi {
    let api = shared.get(libraryPath);
    if (!api) {
      api = new OrtCApi(libraryPath);
      api.checkApiTable();
      shared.set(libraryPath, api);
    }
    return api;
  }

  readonly koffi: Koffi;
  readonly version: string;
  private readonly fns: Record<ApiName, NativeFn>;
  /** Out-parameter scratch, reused by every call (koffi calls are synchronous on this thread). */
  readonly outPtr = new BigUint64Array(1);
  private readonly outInt = new Int32Array(1);
  private defaultAllocatorPtr: Ptr | null = null;

  constructor(readonly libraryPath: string = onnxruntimeNodeLibrary()) {
    this.koffi = loadKoffi();
    const koffi = this.koffi;
    const lib = koffi.load(libraryPath);
    const base: Ptr | null = lib.func('void *OrtGetApiBase()')();
    if (base === null) throw new Error(`OrtGetApiBase returned NULL (${libraryPath})`);
    // struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
    const [getApi, getVersion] = koffi.decode(base, 'void *', 2) as Ptr[];
    this.version = koffi.decode(getVersion, koffi.proto('const char *OrtGetVersionString()'))();
    const api: Ptr | null = koffi.decode(getApi, koffi.proto('void *OrtGetApi(uint32_t version)'))(ORT_API_VERSION);
    if (api === null) throw new Error(`ONNX Runtime ${this.version} at ${libraryPath} does not offer C API version ${ORT_API_VERSION}`);
    const names = Object.keys(API) as ApiName[];
    const table = koffi.decode(api, 'void *', Math.max(...names.map((n) => API[n])) + 1) as (Ptr | null)[];
    this.fns = {} as Record<ApiName, NativeFn>;
    for (const name of names) {
      const ptr = table[API[name]];
      if (ptr === null) throw new Error(`OrtApi member ${name} (#${API[name]}) is NULL in ONNX Runtime ${this.version}`);
      const [result, args] = SIGNATURES[name];
      this.fns[name] = koffi.decode(ptr, koffi.proto(`${result} Ort${name}(${args})`)) as NativeFn;
    }
  }

  /** Calls a status-returning member; a non-null status becomes an OrtCApiError (and is released). */
  check(name: ApiName, ...args: unknown[]): void {
    const status: Ptr | null = this.fns[name](...args);
    if (status !== null) throw this.statusError(name, status);
  }

  /** Calls a member that returns something else than a status. */
  raw(name: ApiName, ...args: unknown[]): unknown {
    return this.fns[name](...args);
  }

  /** check(), then the pointer the call wrote to its last (out) argument. */
  out(name: ApiName, ...args: unknown[]): Ptr {
    this.outPtr[0] = 0n;
    this.check(name, ...args, this.outPtr);
    return this.outPtr[0];
  }

  outSize(name: ApiName, ...args: unknown[]): number {
    return Number(this.out(name, ...args));
  }

  outInt32(name: ApiName, ...args: unknown[]): number {
    this.outInt[0] = 0;
    this.check(name, ...args, this.outInt);
    return this.outInt[0];
  }

  private statusError(fn: string, status: Ptr): OrtCApiError {
    try {
      return new OrtCApiError(fn, this.fns.GetErrorCode(status), this.fns.GetErrorMessage(status) ?? '');
    } finally {
      this.fns.ReleaseStatus(status);
    }
  }

  /** ORT's default CPU allocator: owned by ORT, never released. */
  defaultAllocator(): Ptr {
    this.defaultAllocatorPtr ??= this.out('GetAllocatorWithDefaultOptions');
    return this.defaultAllocatorPtr;
  }

  /** A string ORT allocated with `allocator`, read and freed. */
  takeString(ptr: Ptr, allocator: Ptr = this.defaultAllocator()): string {
    try {
      return this.koffi.decode.string(ptr);
    } finally {
      this.check('AllocatorFree', allocator, ptr);
    }
  }

  /**
   * Members called with known answers, so that a wrong position in the index table shows up here
   * instead of as a wrong call later: a status round trip (members 0-2, 93), the build string (254)
   * and a run config entry round trip (39, 165, 373, 97).
   */
  checkApiTable(): { buildInfo: string } {
    const status: Ptr = this.fns.CreateStatus(2, 'coalesce probe');
    const code = this.fns.GetErrorCode(status);
    const message = this.fns.GetErrorMessage(status);
    this.fns.ReleaseStatus(status);
    if (code !== 2 || message !== 'coalesce probe')
      throw new Error(`OrtApi table check: status round trip gave code ${code}, message ${JSON.stringify(message)}`);
    const buildInfo = String(this.fns.GetBuildInfoString());
    if (!buildInfo.includes('ORT Build Info')) throw new Error(`OrtApi table check: GetBuildInfoString gave ${JSON.stringify(buildInfo.slice(0, 80))}`);
    const runOptions = this.out('CreateRunOptions');
    try {
      this.check('AddRunConfigEntry', runOptions, 'coalesce.probe', '42');
      const value = this.fns.GetRunConfigEntry(runOptions, 'coalesce.probe');
      if (value !== '42') throw new Error(`OrtApi table check: run config entry round trip gave ${JSON.stringify(value)}`);
    } finally {
      this.fns.ReleaseRunOptions(runOptions);
    }
    return { buildInfo };
  }
}

/** Rejects strings koffi would cut at a NUL (C strings end there). */
export function cString(what: string, s: string): string {
  if (typeof s !== 'string' || s.includes('\0')) throw new TypeError(`${what} must be a string without NUL characters`);
  return s;
}
