/**
 * The C API path on a CUDA session: per shape, one device block holding every input, one holding the
 * output (fixed addresses, which a captured CUDA graph needs), bound once; host staging in pinned
 * memory from the session's CudaPinned allocator (pageable JS memory when it has none). A run
 * writes the rows into staging, copies them in (one copy), runs with the shape's RunOptions
 * (`gpu_graph_id` = the shape's graph when graphs are on) and copies the output back.
 *
 * Copies: ORT's CopyTensors when the env has a CUDA data transfer (registering the CUDA provider
 * library with the env gives it one), else cudaMemcpy from libcudart.so.13. Not run on a GPU yet.
 */
import type { Runner } from './cpu-runner.js';
import { CudaRuntime, HostMemcpy, type MemoryCopier } from './cudart.js';
import { fillInput, type ModelInput, type ModelIo, outputShape, padLength, type Rows } from './model-io.js';
import type { OrtCApi, Ptr } from './ort-c-api.js';
import {
  type Allocator,
  type Block,
  bytesPerElement,
  type Env,
  IoBinding,
  MemoryInfo,
  RunOptions,
  type Session,
  Tensor,
  TensorCopy,
  type TypedArray,
  typedArrayAt,
} from './ort-objects.js';

/** 'libc': memcpy, for the runner on CPU memory only. */
export type CopyMode = 'auto' | 'ort' | 'cudart' | 'libc';

export interface CudaRunnerOptions {
  deviceId: number;
  /** Capture one CUDA graph per shape (the session must have enable_cuda_graph=1). */
  graphs: boolean;
  copy: CopyMode;
  /** libonnxruntime_providers_cuda.so, registered with the env for CopyTensors ('' registers nothing). */
  providerLibrary: string;
  label: string;
  /**
   * ORT memory names for the device buffers and the host staging: 'Cuda' and 'CudaPinned'; 'Cpu'
   * for both runs this runner's bookkeeping (layout, bindings, CopyTensors) on a CPU session.
   */
  memory?: { device: string; host: string };
}

interface CudaSlot {
  inputs: { input: ModelInput; host: TypedArray }[];
  output: Float32Array;
  tensors: Tensor[];
  blocks: Block[];
  /** JS views of pinned memory: detached before the memory goes, so a stale view reads nothing instead of freed memory. */
  views: ArrayBuffer[];
  binding: IoBinding;
  runOptions: RunOptions;
  copyIn: () => void;
  copyOut: () => void;
}

interface Staging {
  ptr: Ptr;
  owner: Block | ArrayBuffer;
  info: MemoryInfo;
}

/** Device allocations are aligned to this within a block (cudaMalloc gives 256). */
const ALIGN = 256;

let registeredLibrary: { env: Env; users: number } | null = null;

export class CudaBoundRunner implements Runner {
  readonly label: string;
  /** Which copy path runs, and what was tried before it. */
  copyMode: Exclude<CopyMode, 'auto'> | null = null;
  readonly notes: string[] = [];
  /** Where host staging lives: '<memory> allocator' (CudaPinned on a GPU) or 'pageable JS memory'. */
  readonly hostMemory: string;
  /** Milliseconds spent per phase over the runs since the last reset. */
  readonly phases = { copyIn: 0, run: 0, copyOut: 0, runs: 0 };
  private readonly slots = new Map<string, CudaSlot>();
  private readonly cudaInfo: MemoryInfo;
  private readonly pinnedInfo: MemoryInfo;
  private readonly cpuInfo: MemoryInfo;
  private readonly device: Allocator;
  private readonly pinned: Allocator | null;
  private copier: MemoryCopier | null = null;
  private registered = false;
  private nextGraphId = 1;

  constructor(
    private readonly api: OrtCApi,
    private readonly env: Env,
    private readonly session: Session,
    private readonly io: ModelIo,
    private readonly options: CudaRunnerOptions,
  ) {
    this.label = options.label;
    const memory = options.memory ?? { device: 'Cuda', host: 'CudaPinned' };
    this.cudaInfo = MemoryInfo.create(api, memory.device, 'arena', options.deviceId, 'default');
    this.pinnedInfo = MemoryInfo.create(api, memory.host, 'device', options.deviceId, memory.host === 'Cpu' ? 'default' : 'cpuOutput');
    this.cpuInfo = MemoryInfo.cpu(api);
    this.device = session.allocator(this.cudaInfo);
    let pinned: Allocator | null = null;
    try {
      pinned = session.allocator(this.pinnedInfo);
    } catch (e) {
      this.notes.push(`no CudaPinned allocator (${(e as Error).message}): staging in pageable JS memory`);
    }
    this.pinned = pinned;
    this.hostMemory = pinned ? `${memory.host} allocator` : 'pageable JS memory';
  }

  run(rows: Rows): Float32Array {
    const seq = padLength(rows);
    const slot = this.slot(rows.length, seq);
    for (const { input, host } of slot.inputs) fillInput(input, host, rows, seq);
    const t0 = performance.now();
    slot.copyIn();
    const t1 = performance.now();
    this.session.runWithBinding(slot.binding, slot.runOptions);
    const t2 = performance.now();
    slot.copyOut();
    const t3 = performance.now();
    this.phases.copyIn += t1 - t0;
    this.phases.run += t2 - t1;
    this.phases.copyOut += t3 - t2;
    this.phases.runs++;
    return slot.output;
  }

  resetPhases(): void {
    Object.assign(this.phases, { copyIn: 0, run: 0, copyOut: 0, runs: 0 });
  }

  private staging(bytes: number): Staging {
    if (this.pinned) {
      const block = this.pinned.alloc(bytes);
      return { ptr: block.ptr, owner: block, info: this.pinnedInfo };
    }
    const buffer = new ArrayBuffer(bytes);
    return { ptr: this.api.koffi.address(buffer), owner: buffer, info: this.cpuInfo };
  }

  private slot(batch: number, seq: number): CudaSlot {
    const key = `${batch}x${seq}`;
    const existing = this.slots.get(key);
    if (existing) return existing;
    const { api, io } = this;
    const tensors: Tensor[] = [];
    const blocks: Block[] = [];
    const binding = IoBinding.create(api, this.session);
    let runOptions: RunOptions | null = null;
    try {
      const layout: { input: ModelInput; offset: number; bytes: number }[] = [];
      let inBytes = 0;
      for (const input of io.inputs) {
        const bytes = batch * seq * bytesPerElement(input.type);
        layout.push({ input, offset: inBytes, bytes });
        inBytes += Math.ceil(bytes / ALIGN) * ALIGN;
      }
      const outShape = outputShape(io, batch, seq);
      const outCount = outShape.reduce((a, b) => a * b, 1);
      const outBytes = outCount * 4;

      const inDevice = this.device.alloc(inBytes);
      blocks.push(inDevice);
      const outDevice = this.device.alloc(outBytes);
      blocks.push(outDevice);
      const inHost = this.staging(inBytes);
      const outHost = this.staging(outBytes);
      for (const s of [inHost, outHost]) if (!(s.owner instanceof ArrayBuffer)) blocks.push(s.owner);

      const devInputs = layout.map(({ input, offset, bytes }) =>
        Tensor.overMemory(api, this.cudaInfo, input.type, [batch, seq], inDevice.ptr + BigInt(offset), bytes, inDevice),
      );
      const hostInputs = layout.map(({ input, offset, bytes }) =>
        Tensor.overMemory(api, inHost.info, input.type, [batch, seq], inHost.ptr + BigInt(offset), bytes, inHost.owner),
      );
      const devOut = Tensor.overMemory(api, this.cudaInfo, 'float32', outShape, outDevice.ptr, outBytes, outDevice);
      const hostOut = Tensor.overMemory(api, outHost.info, 'float32', outShape, outHost.ptr, outBytes, outHost.owner);
      tensors.push(...devInputs, ...hostInputs, devOut, hostOut);
      devInputs.forEach((t, i) => binding.bindInput(layout[i].input.name, t));
      binding.bindOutput(io.output.name, devOut);
      runOptions = RunOptions.create(api, this.options.graphs ? { gpu_graph_id: String(this.nextGraphId++) } : {});

      const inputs = layout.map(({ input, offset, bytes }) => ({
        input,
        host:
          inHost.owner instanceof ArrayBuffer
            ? typedArray(input.type, inHost.owner, offset, bytes)
            : typedArrayAt(api, input.type, inHost.ptr + BigInt(offset), bytes / bytesPerElement(input.type)),
      }));
      const output = (
        outHost.owner instanceof ArrayBuffer ? new Float32Array(outHost.owner) : typedArrayAt(api, 'float32', outHost.ptr, outCount)
      ) as Float32Array;

      const ortIn = new TensorCopy(api, this.env, hostInputs, devInputs);
      const ortOut = new TensorCopy(api, this.env, [devOut], [hostOut]);
      const pageable = inHost.owner instanceof ArrayBuffer;
      const mode = this.copyMode ?? this.chooseCopy(ortIn);
      const views = [...inputs.map((i) => i.host.buffer), output.buffer].filter((b): b is ArrayBuffer => b !== inHost.owner && b !== outHost.owner);
      const slot: CudaSlot = {
        inputs,
        output,
        tensors,
        blocks,
        views: [...new Set(views)],
        binding,
        runOptions,
        copyIn: mode === 'ort' ? () => ortIn.run() : () => this.cudaMemcpyIn(inDevice.ptr, inHost.ptr, inBytes, pageable),
        copyOut: mode === 'ort' ? () => ortOut.run() : () => this.copier!.memcpy(outHost.ptr, outDevice.ptr, outBytes),
      };
      this.slots.set(key, slot);
      return slot;
    } catch (e) {
      binding.release();
      runOptions?.release();
      for (const t of tensors) t.release();
      for (const b of blocks) b.free();
      throw e;
    }
  }

  private cudaMemcpyIn(dst: Ptr, src: Ptr, bytes: number, pageable: boolean): void {
    this.copier!.memcpy(dst, src, bytes);
    // From pageable memory cudaMemcpy may return before the DMA lands; ORT's kernels run on their own stream.
    if (pageable) this.copier!.synchronize();
  }

  /** ORT's CopyTensors if it works here (after registering the CUDA provider library with the env), else cudaMemcpy. */
  private chooseCopy(probe: TensorCopy): Exclude<CopyMode, 'auto'> {
    const { copy, providerLibrary } = this.options;
    if (copy === 'libc') {
      this.copier = new HostMemcpy(this.api.koffi);
      this.copyMode = 'libc';
      return 'libc';
    }
    if (copy !== 'cudart') {
      try {
        if (providerLibrary && !this.registered) {
          if (!registeredLibrary) {
            this.api.check('RegisterExecutionProviderLibrary', this.env.ptr, 'coalesce-cuda-copy', providerLibrary);
            registeredLibrary = { env: this.env, users: 0 };
          }
          registeredLibrary.users++;
          this.registered = true;
        }
        probe.run();
        this.copyMode = 'ort';
        return 'ort';
      } catch (e) {
        this.notes.push(`ORT CopyTensors unavailable: ${(e as Error).message}`);
        if (copy === 'ort') throw e;
      }
    }
    this.copier = new CudaRuntime(this.api.koffi);
    this.copyMode = 'cudart';
    return 'cudart';
  }

  close(): void {
    for (const slot of this.slots.values()) {
      slot.binding.release();
      slot.runOptions.release();
      for (const t of slot.tensors) t.release();
      for (const v of slot.views) (v as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
      for (const b of slot.blocks) b.free();
    }
    this.slots.clear();
    this.device.release();
    this.pinned?.release();
    for (const info of [this.cudaInfo, this.pinnedInfo, this.cpuInfo]) info.release();
    if (this.registered && registeredLibrary && --registeredLibrary.users === 0) {
      try {
        this.api.check('UnregisterExecutionProviderLibrary', registeredLibrary.env.ptr, 'coalesce-cuda-copy');
      } finally {
        registeredLibrary = null;
      }
    }
  }
}

function typedArray(type: ModelInput['type'], buffer: ArrayBuffer, offset: number, bytes: number): TypedArray {
  return type === 'int64' ? new BigInt64Array(buffer, offset, bytes / 8) : new Int32Array(buffer, offset, bytes / 4);
}
