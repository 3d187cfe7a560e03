/**
 * A session run through ONNX Runtime's C API with its inputs and outputs bound to fixed device
 * buffers, one set per shape, which is what ORT's CUDA graphs need: with `graphs`, each shape gets
 * its own `gpu_graph_id`, so ORT captures the shape's kernels once and replays them in one launch.
 * Host staging is pinned memory from the session's CudaPinned allocator (pageable JS memory when it
 * has none); a run writes the inputs there, copies them in (one copy), runs, and copies the outputs
 * back. Copies go through ORT's CopyTensors when the env has a CUDA data transfer (registering the
 * CUDA provider library gives it one), else cudaMemcpy (cudart.ts).
 *
 * On an H100, BERT-base fp16 and one 13-token text: 0.526 ms p50 a run with graphs, 1.140 without,
 * 1.176 through onnxruntime-node's session.run, same outputs (bench/results/ort-c-api-cuda.md).
 *
 * Calls are synchronous: they block the calling thread for the run, as session.run does (the server
 * runs sessions in worker threads). Token ids are not range-checked here: on CUDA an id past the
 * vocabulary reads out of bounds instead of failing, so callers pass ids their tokenizer made.
 */
import { CudaRuntime, HostMemcpy, type MemoryCopier } from './cudart.js';
import type { OrtCApi, Ptr } from './ort-c-api.js';
import {
  type Allocator,
  type Block,
  bytesPerElement,
  type ElementType,
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

/** 'libc': memcpy, for running the bookkeeping on CPU memory only. */
export type CopyMode = 'auto' | 'ort' | 'cudart' | 'libc';

export interface BoundRunnerOptions {
  deviceId: number;
  /** Capture one CUDA graph per shape (the session must have enable_cuda_graph=1). */
  graphs: boolean;
  copy: CopyMode;
  /** libonnxruntime_providers_cuda.so, registered with the env for CopyTensors ('' registers nothing). */
  providerLibrary: string;
  /** The outputs fetched, float32, in this order. */
  outputs: readonly string[];
  /**
   * ORT memory names for the device buffers and the host staging: 'Cuda' and 'CudaPinned'; 'Cpu'
   * for both runs the same bookkeeping (layout, bindings, copies) on a CPU session.
   */
  memory?: { device: string; host: string };
}

/** One shape's buffers: `inputs` and `outputs` are JS views of the host staging. */
export interface BoundShape {
  readonly inputs: ReadonlyMap<string, TypedArray>;
  readonly outputs: readonly Float32Array[];
}

interface Slot extends BoundShape {
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
const aligned = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

let registeredLibrary: { env: Env; users: number } | null = null;

export class BoundRunner {
  /** Which copy path runs, and what was tried before it. */
  copyMode: Exclude<CopyMode, 'auto'> | null = null;
  readonly notes: string[] = [];
  /** Where host staging lives: '<memory> allocator' (CudaPinned on a GPU) or 'pageable JS memory'. */
  readonly hostMemory: string;
  /** Milliseconds spent per phase over the runs since the last reset. */
  readonly phases = { copyIn: 0, run: 0, copyOut: 0, runs: 0 };
  private readonly slots = new Map<string, Slot>();
  private readonly deviceInfo: MemoryInfo;
  private readonly hostInfo: MemoryInfo;
  private readonly cpuInfo: MemoryInfo;
  private readonly device: Allocator;
  private readonly pinned: Allocator | null;
  private copier: MemoryCopier | null = null;
  private registered = false;
  private nextGraphId = 1;
  private readonly outputDims: number[][];

  constructor(
    private readonly api: OrtCApi,
    private readonly env: Env,
    private readonly session: Session,
    private readonly options: BoundRunnerOptions,
  ) {
    const memory = options.memory ?? { device: 'Cuda', host: 'CudaPinned' };
    this.outputDims = options.outputs.map((name) => {
      const info = session.outputs.find((o) => o.name === name);
      if (!info) throw new Error(`the model has no output '${name}' (outputs: ${session.outputs.map((o) => o.name).join(', ')})`);
      if (info.type !== 'float32') throw new Error(`output '${name}' is ${info.type}, not float32`);
      if (info.dims.filter((d) => d < 0).length > 2) throw new Error(`output '${name}' [${info.dims}] has more open dimensions than batch and sequence`);
      return info.dims;
    });
    for (const input of session.inputs) {
      if (input.type !== 'int64' && input.type !== 'int32') throw new Error(`input '${input.name}' is ${input.type}, not int64 or int32`);
    }
    this.deviceInfo = MemoryInfo.create(api, memory.device, 'arena', options.deviceId, 'default');
    this.hostInfo = MemoryInfo.create(api, memory.host, 'device', options.deviceId, memory.host === 'Cpu' ? 'default' : 'cpuOutput');
    this.cpuInfo = MemoryInfo.cpu(api);
    this.device = session.allocator(this.deviceInfo);
    let pinned: Allocator | null = null;
    try {
      pinned = session.allocator(this.hostInfo);
    } catch (e) {
      this.notes.push(`no ${memory.host} allocator (${(e as Error).message}): staging in pageable JS memory`);
    }
    this.pinned = pinned;
    this.hostMemory = pinned ? `${memory.host} allocator` : 'pageable JS memory';
  }

  get shapeCount(): number {
    return this.slots.size;
  }

  /** Whether `rows` x `seq` has its buffers (and, with graphs, its graph once run). */
  has(rows: number, seq: number): boolean {
    return this.slots.has(`${rows}x${seq}`);
  }

  /** The shape's buffers, made on first use: fill `inputs`, call run(), read `outputs` (valid until the shape's next run). */
  shape(rows: number, seq: number): BoundShape {
    return this.slotFor(rows, seq);
  }

  /** Runs the shape with whatever its input views hold. */
  run(rows: number, seq: number): readonly Float32Array[] {
    const slot = this.slotFor(rows, seq);
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
    return slot.outputs;
  }

  resetPhases(): void {
    Object.assign(this.phases, { copyIn: 0, run: 0, copyOut: 0, runs: 0 });
  }

  private slotFor(rows: number, seq: number): Slot {
    return this.slots.get(`${rows}x${seq}`) ?? this.makeSlot(rows, seq);
  }

  private staging(bytes: number): Staging {
    if (this.pinned) {
      const block = this.pinned.alloc(bytes);
      return { ptr: block.ptr, owner: block, info: this.hostInfo };
    }
    const buffer = new ArrayBuffer(bytes);
    return { ptr: this.api.koffi.address(buffer), owner: buffer, info: this.cpuInfo };
  }

  private view(staging: Staging, type: ElementType, offset: number, bytes: number): TypedArray {
    const length = bytes / bytesPerElement(type);
    if (staging.owner instanceof ArrayBuffer) {
      if (type === 'int64') return new BigInt64Array(staging.owner, offset, length);
      if (type === 'int32') return new Int32Array(staging.owner, offset, length);
      return new Float32Array(staging.owner, offset, length);
    }
    return typedArrayAt(this.api, type, staging.ptr + BigInt(offset), length);
  }

  private makeSlot(rows: number, seq: number): Slot {
    const { api, session } = this;
    const tensors: Tensor[] = [];
    const blocks: Block[] = [];
    const binding = IoBinding.create(api, session);
    let runOptions: RunOptions | null = null;
    try {
      const fill = (dims: number[]) => {
        const open = [rows, seq];
        return dims.map((d) => (d >= 0 ? d : open.shift()!));
      };
      const lay = (items: { name: string; type: ElementType; shape: number[] }[]) => {
        let total = 0;
        const placed = items.map((item) => {
          const bytes = item.shape.reduce((a, b) => a * b, 1) * bytesPerElement(item.type);
          const at = { ...item, offset: total, bytes };
          total += aligned(bytes);
          return at;
        });
        return { placed, total };
      };
      const ins = lay(session.inputs.map((i) => ({ name: i.name, type: i.type as ElementType, shape: [rows, seq] })));
      const outs = lay(this.options.outputs.map((name, i) => ({ name, type: 'float32' as const, shape: fill(this.outputDims[i]) })));

      const inDevice = this.device.alloc(ins.total);
      blocks.push(inDevice);
      const outDevice = this.device.alloc(outs.total);
      blocks.push(outDevice);
      const inHost = this.staging(ins.total);
      const outHost = this.staging(outs.total);
      for (const s of [inHost, outHost]) if (!(s.owner instanceof ArrayBuffer)) blocks.push(s.owner);

      const over = (info: MemoryInfo, base: Ptr, owner: Block | ArrayBuffer) => (p: { type: ElementType; shape: number[]; offset: number; bytes: number }) =>
        Tensor.overMemory(api, info, p.type, p.shape, base + BigInt(p.offset), p.bytes, owner);
      const devInputs = ins.placed.map(over(this.deviceInfo, inDevice.ptr, inDevice));
      const hostInputs = ins.placed.map(over(inHost.info, inHost.ptr, inHost.owner));
      const devOutputs = outs.placed.map(over(this.deviceInfo, outDevice.ptr, outDevice));
      const hostOutputs = outs.placed.map(over(outHost.info, outHost.ptr, outHost.owner));
      tensors.push(...devInputs, ...hostInputs, ...devOutputs, ...hostOutputs);
      devInputs.forEach((t, i) => binding.bindInput(ins.placed[i].name, t));
      devOutputs.forEach((t, i) => binding.bindOutput(outs.placed[i].name, t));
      runOptions = RunOptions.create(api, this.options.graphs ? { gpu_graph_id: String(this.nextGraphId++) } : {});

      const inputs = new Map(ins.placed.map((p) => [p.name, this.view(inHost, p.type, p.offset, p.bytes)]));
      const outputs = outs.placed.map((p) => this.view(outHost, 'float32', p.offset, p.bytes) as Float32Array);
      const ortIn = new TensorCopy(api, this.env, hostInputs, devInputs);
      const ortOut = new TensorCopy(api, this.env, devOutputs, hostOutputs);
      const pageable = inHost.owner instanceof ArrayBuffer;
      const mode = this.copyMode ?? this.chooseCopy(ortIn);
      const views = [...inputs.values(), ...outputs].map((a) => a.buffer).filter((b): b is ArrayBuffer => b !== inHost.owner && b !== outHost.owner);
      const slot: Slot = {
        inputs,
        outputs,
        tensors,
        blocks,
        views: [...new Set(views)],
        binding,
        runOptions,
        copyIn: mode === 'ort' ? () => ortIn.run() : () => this.memcpyIn(inDevice.ptr, inHost.ptr, ins.total, pageable),
        copyOut: mode === 'ort' ? () => ortOut.run() : () => this.copier!.memcpy(outHost.ptr, outDevice.ptr, outs.total),
      };
      this.slots.set(`${rows}x${seq}`, slot);
      return slot;
    } catch (e) {
      binding.release();
      runOptions?.release();
      for (const t of tensors) t.release();
      for (const b of blocks) b.free();
      throw e;
    }
  }

  private memcpyIn(dst: Ptr, src: Ptr, bytes: number, pageable: boolean): void {
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
    for (const info of [this.deviceInfo, this.hostInfo, this.cpuInfo]) info.release();
    if (this.registered && registeredLibrary && --registeredLibrary.users === 0) {
      try {
        this.api.check('UnregisterExecutionProviderLibrary', registeredLibrary.env.ptr, 'coalesce-cuda-copy');
      } finally {
        registeredLibrary = null;
      }
    }
  }
}
