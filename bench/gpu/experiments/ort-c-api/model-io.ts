/**
 * What a BERT-like model takes and gives, for feeding it token rows the same way on every path
 * (onnxruntime-node and the C API): input_ids, attention_mask and token_type_ids as int64 or int32,
 * padded to one length; the first output float32 with open batch and sequence dimensions.
 */
import { type ElementType, newTypedArray, type TypedArray } from '../../../../src/backend/ort-capi/ort-objects.js';

export type Rows = readonly (readonly number[])[];

export interface ModelInput {
  name: 'input_ids' | 'attention_mask' | 'token_type_ids';
  type: 'int64' | 'int32';
}

export interface ModelIo {
  inputs: ModelInput[];
  output: { name: string; dims: number[] };
}

const INPUT_NAMES = new Set(['input_ids', 'attention_mask', 'token_type_ids']);

/** Checks the model's inputs and first output against what this prototype feeds; throws naming what does not fit. */
export function modelIo(
  inputs: { name: string; type: ElementType | string | null }[],
  outputs: { name: string; type: ElementType | string | null; dims: number[] }[],
): ModelIo {
  const ins = inputs.map(({ name, type }) => {
    if (!INPUT_NAMES.has(name)) throw new Error(`model input '${name}' is not one of ${[...INPUT_NAMES].join(', ')}`);
    if (type !== 'int64' && type !== 'int32') throw new Error(`model input '${name}' is ${type}, not int64 or int32`);
    return { name, type } as ModelInput;
  });
  if (!ins.some((i) => i.name === 'input_ids')) throw new Error('the model takes no input_ids');
  const out = outputs[0];
  if (!out) throw new Error('the model has no output');
  if (out.type !== 'float32') throw new Error(`model output '${out.name}' is ${out.type}, not float32`);
  if (out.dims.filter((d) => d < 0).length > 2)
    throw new Error(`model output '${out.name}' [${out.dims.join(', ')}] has more open dimensions than batch and sequence`);
  return { inputs: ins, output: { name: out.name, dims: out.dims } };
}

/** The output's shape for `batch` rows of `seq` tokens: open dimensions are batch, then sequence. */
export function outputShape(io: ModelIo, batch: number, seq: number): number[] {
  const fill = [batch, seq];
  return io.output.dims.map((d) => (d >= 0 ? d : fill.shift()!));
}

export function padLength(rows: Rows): number {
  if (rows.length === 0) throw new RangeError('no rows');
  let seq = 0;
  for (const r of rows) {
    if (r.length === 0) throw new RangeError('an empty row');
    seq = Math.max(seq, r.length);
  }
  return seq;
}

/** Writes one input for `rows` padded to `seq` into `target` (batch * seq elements). */
export function fillInput(input: ModelInput, target: TypedArray, rows: Rows, seq: number): void {
  if (target.length !== rows.length * seq) throw new RangeError(`${input.name}: ${target.length} elements for ${rows.length} x ${seq}`);
  const big = target instanceof BigInt64Array || target instanceof BigUint64Array;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    for (let j = 0; j < seq; j++) {
      const v = input.name === 'input_ids' ? (j < row.length ? row[j] : 0) : input.name === 'attention_mask' ? (j < row.length ? 1 : 0) : 0;
      if (!Number.isSafeInteger(v) || v < 0 || (!big && v > 0x7fffffff)) throw new RangeError(`token id ${v} at row ${r}, position ${j}`);
      (target as unknown as (number | bigint)[])[r * seq + j] = big ? BigInt(v) : v;
    }
  }
}

/** Fresh arrays holding every input for `rows` (what a caller of onnxruntime-node builds per call). */
export function freshInputs(io: ModelIo, rows: Rows): { input: ModelInput; data: TypedArray; seq: number }[] {
  const seq = padLength(rows);
  return io.inputs.map((input) => {
    const data = newTypedArray(input.type, rows.length * seq);
    fillInput(input, data, rows, seq);
    return { input, data, seq };
  });
}
