/**
 * The C API path on CPU: per shape, input and output tensors over JS typed arrays, bound once to an
 * IoBinding; a run writes the token rows into those arrays, calls RunWithBinding and finds the result
 * in the output array. No tensor is created and nothing is copied per call.
 */
import { fillInput, type ModelInput, type ModelIo, outputShape, padLength, type Rows } from './model-io.js';
import type { OrtCApi } from '../../../../src/backend/ort-capi/ort-c-api.js';
import { IoBinding, MemoryInfo, newTypedArray, RunOptions, type Session, Tensor, type TypedArray } from '../../../../src/backend/ort-capi/ort-objects.js';

export interface Runner {
  readonly label: string;
  /** The output for `rows`: a view that the next run of the same shape overwrites. */
  run(rows: Rows): Float32Array;
  close(): void;
}

interface CpuSlot {
  inputs: { input: ModelInput; data: TypedArray }[];
  output: Float32Array;
  tensors: Tensor[];
  binding: IoBinding;
  runOptions: RunOptions;
}

export class CpuBoundRunner implements Runner {
  private readonly slots = new Map<string, CpuSlot>();
  private readonly cpu: MemoryInfo;

  constructor(
    private readonly api: OrtCApi,
    private readonly session: Session,
    private readonly io: ModelIo,
    readonly label = 'C API, IoBinding over JS arrays',
  ) {
    this.cpu = MemoryInfo.cpu(api);
  }

  run(rows: Rows): Float32Array {
    const seq = padLength(rows);
    const slot = this.slot(rows.length, seq);
    for (const { input, data } of slot.inputs) fillInput(input, data, rows, seq);
    this.session.runWithBinding(slot.binding, slot.runOptions);
    return slot.output;
  }

  private slot(batch: number, seq: number): CpuSlot {
    const key = `${batch}x${seq}`;
    let slot = this.slots.get(key);
    if (slot) return slot;
    const { api, io } = this;
    const tensors: Tensor[] = [];
    const binding = IoBinding.create(api, this.session);
    try {
      const inputs = io.inputs.map((input) => {
        const data = newTypedArray(input.type, batch * seq);
        const t = Tensor.overTypedArray(api, this.cpu, input.type, [batch, seq], data);
        tensors.push(t);
        binding.bindInput(input.name, t);
        return { input, data };
      });
      const shape = outputShape(io, batch, seq);
      const output = newTypedArray(
        'float32',
        shape.reduce((a, b) => a * b, 1),
      ) as Float32Array;
      const out = Tensor.overTypedArray(api, this.cpu, 'float32', shape, output);
      tensors.push(out);
      binding.bindOutput(io.output.name, out);
      slot = { inputs, output, tensors, binding, runOptions: RunOptions.create(api) };
    } catch (e) {
      binding.release();
      for (const t of tensors) t.release();
      throw e;
    }
    this.slots.set(key, slot);
    return slot;
  }

  close(): void {
    for (const slot of this.slots.values()) {
      slot.binding.release();
      slot.runOptions.release();
      for (const t of slot.tensors) t.release();
    }
    this.slots.clear();
    this.cpu.release();
  }
}
