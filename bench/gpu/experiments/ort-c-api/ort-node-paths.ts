/**
 * The same calls through onnxruntime-node, the two ways its API allows: fresh tensors per call (what a
 * server does, and the reference outputs), and tensors made once per shape with a preallocated output
 * (fetches), the nearest it comes to a binding.
 */
import type * as Ort from 'onnxruntime-node';
import { fillInput, freshInputs, type ModelIo, outputShape, padLength, type Rows } from './model-io.js';
import { newTypedArray, type TypedArray } from '../../../../src/backend/ort-capi/ort-objects.js';

export class OrtNodeFresh {
  readonly label = 'onnxruntime-node, session.run (fresh tensors)';

  constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly io: ModelIo,
  ) {}

  async run(rows: Rows): Promise<Float32Array> {
    const feeds: Record<string, Ort.Tensor> = {};
    for (const { input, data, seq } of freshInputs(this.io, rows)) {
      feeds[input.name] = new this.ort.Tensor(input.type, data as BigInt64Array | Int32Array, [rows.length, seq]);
    }
    const out = await this.session.run(feeds);
    return out[this.io.output.name].data as Float32Array;
  }
}

interface ReusedSlot {
  arrays: TypedArray[];
  feeds: Record<string, Ort.Tensor>;
  fetches: Record<string, Ort.Tensor>;
}

export class OrtNodeReused {
  readonly label = 'onnxruntime-node, session.run (tensors reused, output preallocated)';
  private readonly slots = new Map<string, ReusedSlot>();

  constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly io: ModelIo,
  ) {}

  async run(rows: Rows): Promise<Float32Array> {
    const seq = padLength(rows);
    const slot = this.slot(rows.length, seq);
    this.io.inputs.forEach((input, i) => fillInput(input, slot.arrays[i], rows, seq));
    const out = await this.session.run(slot.feeds, slot.fetches);
    return out[this.io.output.name].data as Float32Array;
  }

  private slot(batch: number, seq: number): ReusedSlot {
    const key = `${batch}x${seq}`;
    let slot = this.slots.get(key);
    if (!slot) {
      const arrays = this.io.inputs.map((input) => newTypedArray(input.type, batch * seq));
      const feeds: Record<string, Ort.Tensor> = {};
      this.io.inputs.forEach((input, i) => {
        feeds[input.name] = new this.ort.Tensor(input.type, arrays[i] as BigInt64Array | Int32Array, [batch, seq]);
      });
      const shape = outputShape(this.io, batch, seq);
      const output = new Float32Array(shape.reduce((a, b) => a * b, 1));
      slot = { arrays, feeds, fetches: { [this.io.output.name]: new this.ort.Tensor('float32', output, shape) } };
      this.slots.set(key, slot);
    }
    return slot;
  }
}
