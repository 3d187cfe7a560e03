/**
 * ORT objects over the C API (ort-c-api.ts): each wraps one handle, refuses use after release and
 * keeps alive whatever memory the native side still points at (the JS buffer under a tensor, the
 * tensors an IoBinding holds, the allocator under the tensors it allocated).
 */
import type { ApiName } from './api-index.js';
import { cString, type OrtCApi, type Ptr } from './ort-c-api.js';

/** ONNXTensorElementDataType values (onnxruntime_c_api.h) with the typed array that holds each. */
const ELEMENT_TYPES = {
  float32: { code: 1, array: Float32Array },
  uint8: { code: 2, array: Uint8Array },
  int8: { code: 3, array: Int8Array },
  uint16: { code: 4, array: Uint16Array },
  int16: { code: 5, array: Int16Array },
  int32: { code: 6, array: Int32Array },
  int64: { code: 7, array: BigInt64Array },
  bool: { code: 9, array: Uint8Array },
  float16: { code: 10, array: Uint16Array },
  float64: { code: 11, array: Float64Array },
  uint32: { code: 12, array: Uint32Array },
  uint64: { code: 13, array: BigUint64Array },
} as const;

export type ElementType = keyof typeof ELEMENT_TYPES;
export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export function elementTypeOf(code: number): ElementType | null {
  return (Object.keys(ELEMENT_TYPES) as ElementType[]).find((t) => ELEMENT_TYPES[t].code === code) ?? null;
}

export function bytesPerElement(type: ElementType): number {
  return ELEMENT_TYPES[type].array.BYTES_PER_ELEMENT;
}

/** A typed array of `type` over a fresh ArrayBuffer of its own (off the V8 heap, never moved). */
export function newTypedArray(type: ElementType, length: number): TypedArray {
  const Ctor = ELEMENT_TYPES[type].array;
  return new Ctor(new ArrayBuffer(length * Ctor.BYTES_PER_ELEMENT));
}

/** A typed array of `type` over native memory (pinned host memory): valid only while that memory is. */
export function typedArrayAt(api: OrtCApi, type: ElementType, ptr: Ptr, length: number): TypedArray {
  const Ctor = ELEMENT_TYPES[type].array;
  return new Ctor(api.koffi.view(ptr, length * Ctor.BYTES_PER_ELEMENT), 0, length);
}

function checkShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
    n *= d;
  }
  return n;
}

function shapeArray(shape: readonly number[]): BigInt64Array {
  return BigInt64Array.from(shape, (d) => BigInt(d));
}

abstract class Handle {
  private handle: Ptr | null;

  constructor(
    protected readonly api: OrtCApi,
    handle: Ptr,
    private readonly releaseWith: ApiName | null,
    private readonly kind: string,
  ) {
    this.handle = handle;
  }

  get ptr(): Ptr {
    if (this.handle === null) throw new Error(`${this.kind} used after release`);
    return this.handle;
  }

  get released(): boolean {
    return this.handle === null;
  }

  release(): void {
    if (this.handle === null) return;
    const handle = this.handle;
    this.beforeRelease();
    this.handle = null;
    if (this.releaseWith) this.api.raw(this.releaseWith, handle);
    this.afterRelease();
  }

  protected beforeRelease(): void {}
  protected afterRelease(): void {}
}

export class Env extends Handle {
  /** ORT keeps one env per process: when onnxruntime-node made it first, this is the same env, counted once more. */
  static create(api: OrtCApi, logId = 'coalesce-c-api', logLevel = 3): Env {
    return new Env(api, api.out('CreateEnv', logLevel, cString('log id', logId)), 'ReleaseEnv', 'OrtEnv');
  }
}

const OPTIMIZATION_LEVELS = { disabled: 0, basic: 1, extended: 2, all: 99 } as const;

export interface SessionSettings {
  graphOptimization?: keyof typeof OPTIMIZATION_LEVELS;
  /** 0: ORT's default (one thread per physical core). */
  intraOpThreads?: number;
  interOpThreads?: number;
  memPattern?: boolean;
  configEntries?: Record<string, string>;
  /** Appended as the first execution provider (CPU stays the fallback). */
  cuda?: CudaProviderOptions;
}

export class SessionOptions extends Handle {
  static create(api: OrtCApi, settings: SessionSettings = {}): SessionOptions {
    const options = new SessionOptions(api, api.out('CreateSessionOptions'), 'ReleaseSessionOptions', 'OrtSessionOptions');
    try {
      const p = options.ptr;
      if (settings.graphOptimization) api.check('SetSessionGraphOptimizationLevel', p, OPTIMIZATION_LEVELS[settings.graphOptimization]);
      if (settings.intraOpThreads !== undefined) api.check('SetIntraOpNumThreads', p, settings.intraOpThreads);
      if (settings.interOpThreads !== undefined) api.check('SetInterOpNumThreads', p, settings.interOpThreads);
      if (settings.memPattern !== undefined) api.check(settings.memPattern ? 'EnableMemPattern' : 'DisableMemPattern', p);
      for (const [k, v] of Object.entries(settings.configEntries ?? {}))
        api.check('AddSessionConfigEntry', p, cString('config key', k), cString('config value', v));
      if (settings.cuda) api.check('SessionOptionsAppendExecutionProvider_CUDA_V2', p, settings.cuda.ptr);
      return options;
    } catch (e) {
      options.release();
      throw e;
    }
  }
}

/** OrtCUDAProviderOptionsV2: every key the CUDA provider takes (device_id, enable_cuda_graph, ...), as strings. */
export class CudaProviderOptions extends Handle {
  static create(api: OrtCApi, options: Record<string, string>): CudaProviderOptions {
    const cuda = new CudaProviderOptions(api, api.out('CreateCUDAProviderOptions'), 'ReleaseCUDAProviderOptions', 'OrtCUDAProviderOptionsV2');
    try {
      cuda.update(options);
      return cuda;
    } catch (e) {
      cuda.release();
      throw e;
    }
  }

  update(options: Record<string, string>): void {
    const keys = Object.keys(options).map((k) => cString('CUDA option key', k));
    const values = keys.map((k) => cString(`CUDA option ${k}`, String(options[k])));
    if (keys.length > 0) this.api.check('UpdateCUDAProviderOptions', this.ptr, keys, values, keys.length);
  }

  /** The options as ORT reads them back ("device_id=0;enable_cuda_graph=1;..."). */
  describe(): string {
    return this.api.takeString(this.api.out('GetCUDAProviderOptionsAsString', this.ptr, this.api.defaultAllocator()));
  }
}

export interface TensorInfo {
  name: string;
  /** null: not a tensor, or an element type this prototype does not map. */
  type: ElementType | null;
  /** -1 where the model leaves a dimension open. */
  dims: number[];
}

export class Session extends Handle {
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];

  private constructor(api: OrtCApi, handle: Ptr) {
    super(api, handle, 'ReleaseSession', 'OrtSession');
    this.inputs = this.describe('Input');
    this.outputs = this.describe('Output');
  }

  static create(api: OrtCApi, env: Env, modelPath: string, options: SessionOptions): Session {
    return new Session(api, api.out('CreateSession', env.ptr, cString('model path', modelPath), options.ptr));
  }

  /** From the model's bytes (a graph rewritten in memory); ORT copies what it keeps. */
  static fromBytes(api: OrtCApi, env: Env, model: Uint8Array, options: SessionOptions): Session {
    return new Session(api, api.out('CreateSessionFromArray', env.ptr, model, model.byteLength, options.ptr));
  }

  private describe(which: 'Input' | 'Output'): TensorInfo[] {
    const { api } = this;
    const count = api.outSize(`SessionGet${which}Count` as const, this.ptr);
    return Array.from({ length: count }, (_, i) => {
      const name = api.takeString(api.out(`SessionGet${which}Name` as const, this.ptr, i, api.defaultAllocator()));
      const typeInfo = api.out(`SessionGet${which}TypeInfo` as const, this.ptr, i);
      try {
        const info = api.out('CastTypeInfoToTensorInfo', typeInfo);
        if (info === 0n) return { name, type: null, dims: [] };
        const type = elementTypeOf(api.outInt32('GetTensorElementType', info));
        const rank = api.outSize('GetDimensionsCount', info);
        const dims = new BigInt64Array(rank);
        if (rank > 0) api.check('GetDimensions', info, dims, rank);
        return { name, type, dims: Array.from(dims, Number) };
      } finally {
        api.raw('ReleaseTypeInfo', typeInfo);
      }
    });
  }

  /** The session's allocator for `info` (e.g. its CUDA arena); errors when the session has none for it. */
  allocator(info: MemoryInfo): Allocator {
    return new Allocator(this.api, this.api.out('CreateAllocator', this.ptr, info.ptr));
  }

  runWithBinding(binding: IoBinding, runOptions: RunOptions | null = null): void {
    this.api.check('RunWithBinding', this.ptr, runOptions ? runOptions.ptr : null, binding.ptr);
  }
}

const ALLOCATOR_TYPES = { device: 0, arena: 1 } as const;
const MEM_TYPES = { cpuInput: -2, cpuOutput: -1, default: 0 } as const;

export class MemoryInfo extends Handle {
  static cpu(api: OrtCApi): MemoryInfo {
    return new MemoryInfo(api, api.out('CreateCpuMemoryInfo', ALLOCATOR_TYPES.device, MEM_TYPES.default), 'ReleaseMemoryInfo', 'OrtMemoryInfo');
  }

  /** `name`: "Cpu", "Cuda", "CudaPinned", ... (ORT's allocator names). */
  static create(api: OrtCApi, name: string, allocator: keyof typeof ALLOCATOR_TYPES, deviceId: number, memType: keyof typeof MEM_TYPES): MemoryInfo {
    const handle = api.out('CreateMemoryInfo', cString('memory name', name), ALLOCATOR_TYPES[allocator], deviceId, MEM_TYPES[memType]);
    return new MemoryInfo(api, handle, 'ReleaseMemoryInfo', 'OrtMemoryInfo');
  }

  get name(): string {
    return memoryInfoName(this.api, this.ptr);
  }
}

function memoryInfoName(api: OrtCApi, info: Ptr): string {
  return api.koffi.decode.string(api.out('MemoryInfoGetName', info));
}

/** A session allocator. The tensors and blocks it gave out must go first: ORT does not count them. */
export class Allocator extends Handle {
  private live = 0;

  constructor(api: OrtCApi, handle: Ptr) {
    super(api, handle, 'ReleaseAllocator', 'OrtAllocator');
  }

  alloc(bytes: number): Block {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RangeError(`allocation of ${bytes} bytes`);
    const ptr = this.api.out('AllocatorAlloc', this.ptr, bytes);
    this.live++;
    return new Block(ptr, bytes, () => {
      this.api.check('AllocatorFree', this.ptr, ptr);
      this.live--;
    });
  }

  /** @internal bookkeeping for tensors allocated from this allocator. */
  hold(): () => void {
    this.live++;
    let done = false;
    return () => {
      if (!done) (done = true), this.live--;
    };
  }

  protected override beforeRelease(): void {
    if (this.live > 0) throw new Error(`OrtAllocator released while ${this.live} allocation(s) from it are alive: release them first`);
  }
}

/** Memory from an Allocator (device or pinned host memory): a pointer, a size, and free(). */
export class Block {
  private freed = false;

  constructor(
    readonly ptr: Ptr,
    readonly bytes: number,
    private readonly doFree: () => void,
  ) {}

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.doFree();
  }
}

export class Tensor extends Handle {
  private constructor(
    api: OrtCApi,
    handle: Ptr,
    readonly type: ElementType,
    readonly shape: readonly number[],
    /** The memory under the tensor that ORT does not own (a JS buffer, a Block); kept while the tensor or a binding of it lives. */
    readonly memoryOwner: unknown,
    private readonly onRelease: (() => void) | null = null,
  ) {
    super(api, handle, 'ReleaseValue', 'OrtValue');
  }

  get byteLength(): number {
    return checkShape(this.shape) * bytesPerElement(this.type);
  }

  /**
   * A tensor over a JS typed array, no copy: ORT reads and writes `data` directly. `data` must hold
   * exactly the shape's element count in `type`'s array class, on a fixed-length, non-shared buffer.
   */
  static overTypedArray(api: OrtCApi, info: MemoryInfo, type: ElementType, shape: readonly number[], data: TypedArray): Tensor {
    const Ctor = ELEMENT_TYPES[type].array;
    if (!(data instanceof Ctor)) throw new TypeError(`a ${type} tensor needs a ${Ctor.name}, got ${(data as object)?.constructor?.name ?? typeof data}`);
    const n = checkShape(shape);
    if (data.length !== n) throw new RangeError(`shape [${shape.join(', ')}] holds ${n} elements, the array ${data.length}`);
    if (n === 0) throw new RangeError('empty tensors are not supported');
    const buffer = data.buffer as ArrayBuffer & { resizable?: boolean; growable?: boolean };
    if (buffer.resizable || buffer.growable || !(buffer instanceof ArrayBuffer))
      throw new TypeError('the array must sit on a fixed-length, non-shared ArrayBuffer');
    // The address itself, not the array: the tensor keeps pointing at it after this call returns.
    const address = api.koffi.address(data);
    const handle = api.out('CreateTensorWithDataAsOrtValue', info.ptr, address, data.byteLength, shapeArray(shape), shape.length, ELEMENT_TYPES[type].code);
    return new Tensor(api, handle, type, [...shape], data);
  }

  /**
   * A tensor over memory owned elsewhere (a Block of device or pinned memory, an ArrayBuffer) at
   * `ptr`, inside `owner`, described by `info`; `bytes`: what the memory at `ptr` holds.
   */
  static overMemory(api: OrtCApi, info: MemoryInfo, type: ElementType, shape: readonly number[], ptr: Ptr, bytes: number, owner: Block | ArrayBuffer): Tensor {
    const need = checkShape(shape) * bytesPerElement(type);
    if (need === 0 || need > bytes) throw new RangeError(`shape [${shape.join(', ')}] of ${type} needs ${need} bytes, ${bytes} given`);
    const handle = api.out('CreateTensorWithDataAsOrtValue', info.ptr, ptr, need, shapeArray(shape), shape.length, ELEMENT_TYPES[type].code);
    return new Tensor(api, handle, type, [...shape], owner);
  }

  /** A tensor in memory ORT allocates from `allocator` (and frees with the tensor). */
  static allocate(api: OrtCApi, allocator: Allocator, type: ElementType, shape: readonly number[]): Tensor {
    if (checkShape(shape) === 0) throw new RangeError('empty tensors are not supported');
    const handle = api.out('CreateTensorAsOrtValue', allocator.ptr, shapeArray(shape), shape.length, ELEMENT_TYPES[type].code);
    return new Tensor(api, handle, type, [...shape], null, allocator.hold());
  }

  /** Takes over an OrtValue ORT handed out (IoBinding outputs): reads its type and shape. */
  static adopt(api: OrtCApi, handle: Ptr): Tensor {
    const info = api.out('GetTensorTypeAndShape', handle);
    try {
      const code = api.outInt32('GetTensorElementType', info);
      const type = elementTypeOf(code);
      const rank = api.outSize('GetDimensionsCount', info);
      const dims = new BigInt64Array(rank);
      if (rank > 0) api.check('GetDimensions', info, dims, rank);
      if (type === null) {
        api.raw('ReleaseValue', handle);
        throw new TypeError(`output element type ${code} is not mapped`);
      }
      return new Tensor(api, handle, type, Array.from(dims, Number), null);
    } finally {
      api.raw('ReleaseTensorTypeAndShapeInfo', info);
    }
  }

  dataPointer(): Ptr {
    return this.api.out('GetTensorMutableData', this.ptr);
  }

  /** Where the data lives: "Cpu", "Cuda", "CudaPinned", ... */
  memoryName(): string {
    return memoryInfoName(this.api, this.api.out('GetTensorMemoryInfo', this.ptr));
  }

  /** A copy of the data; only for memory the CPU can read (Cpu, CudaPinned). */
  read(): TypedArray {
    if (!['Cpu', 'CudaPinned'].includes(this.memoryName())) throw new Error(`cannot read ${this.memoryName()} memory from the CPU`);
    const n = checkShape(this.shape);
    return typedArrayAt(this.api, this.type, this.dataPointer(), n).slice();
  }

  protected override afterRelease(): void {
    this.onRelease?.();
  }
}

export class IoBinding extends Handle {
  /** Memory under the bound values: the binding's own OrtValue copies point at it after the tensors' release. */
  private readonly holding = new Map<string, unknown>();

  static create(api: OrtCApi, session: Session): IoBinding {
    return new IoBinding(api, api.out('CreateIoBinding', session.ptr), 'ReleaseIoBinding', 'OrtIoBinding');
  }

  bindInput(name: string, tensor: Tensor): void {
    this.api.check('BindInput', this.ptr, cString('input name', name), tensor.ptr);
    this.holding.set(`in:${name}`, tensor.memoryOwner);
  }

  bindOutput(name: string, tensor: Tensor): void {
    this.api.check('BindOutput', this.ptr, cString('output name', name), tensor.ptr);
    this.holding.set(`out:${name}`, tensor.memoryOwner);
  }

  /** ORT allocates the output on the device `info` names at each run; `outputs()` hands it over. */
  bindOutputToDevice(name: string, info: MemoryInfo): void {
    this.api.check('BindOutputToDevice', this.ptr, cString('output name', name), info.ptr);
    this.holding.delete(`out:${name}`);
  }

  /** The bound outputs after a run, in binding order; the caller releases them. */
  outputs(): Tensor[] {
    const { api } = this;
    const allocator = api.defaultAllocator();
    const arrayOut = new BigUint64Array(1);
    const count = new BigUint64Array(1);
    api.check('GetBoundOutputValues', this.ptr, allocator, arrayOut, count);
    const array = arrayOut[0];
    if (count[0] === 0n || array === 0n) return [];
    const handles = api.koffi.decode(array, 'void *', Number(count[0])) as Ptr[];
    api.check('AllocatorFree', allocator, array);
    const tensors: Tensor[] = [];
    try {
      for (const h of handles) tensors.push(Tensor.adopt(api, h));
    } catch (e) {
      for (const t of tensors) t.release();
      throw e;
    }
    return tensors;
  }

  clearInputs(): void {
    this.api.raw('ClearBoundInputs', this.ptr);
    for (const k of [...this.holding.keys()]) if (k.startsWith('in:')) this.holding.delete(k);
  }

  clearOutputs(): void {
    this.api.raw('ClearBoundOutputs', this.ptr);
    for (const k of [...this.holding.keys()]) if (k.startsWith('out:')) this.holding.delete(k);
  }

  protected override afterRelease(): void {
    this.holding.clear();
  }
}

export class RunOptions extends Handle {
  /** `entries`: run config entries, e.g. { gpu_graph_id: '1' } for the CUDA graph of one shape. */
  static create(api: OrtCApi, entries: Record<string, string> = {}): RunOptions {
    const options = new RunOptions(api, api.out('CreateRunOptions'), 'ReleaseRunOptions', 'OrtRunOptions');
    try {
      for (const [k, v] of Object.entries(entries)) options.set(k, v);
      return options;
    } catch (e) {
      options.release();
      throw e;
    }
  }

  set(key: string, value: string): void {
    this.api.check('AddRunConfigEntry', this.ptr, cString('run config key', key), cString('run config value', value));
  }

  get(key: string): string | null {
    return this.api.raw('GetRunConfigEntry', this.ptr, cString('run config key', key)) as string | null;
  }
}

/**
 * ORT's own device copy (CopyTensors, API 23): tensors pairwise from `src` to `dst` through the
 * data transfers the env knows. The pointer arrays are built once for a hot path.
 */
export class TensorCopy {
  private readonly src: BigUint64Array;
  private readonly dst: BigUint64Array;

  constructor(
    private readonly api: OrtCApi,
    private readonly env: Env,
    from: readonly Tensor[],
    to: readonly Tensor[],
  ) {
    if (from.length !== to.length || from.length === 0) throw new RangeError('CopyTensors needs as many destinations as sources');
    this.src = BigUint64Array.from(from, (t) => t.ptr);
    this.dst = BigUint64Array.from(to, (t) => t.ptr);
  }

  run(): void {
    this.api.check('CopyTensors', this.env.ptr, this.src, this.dst, null, this.src.length);
  }
}
