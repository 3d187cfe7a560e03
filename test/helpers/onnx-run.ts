/** Running rewritten ONNX graphs on CPU in tests, and comparing what they give. */
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel, type ModelProto } from '../../src/onnx-graph/onnx-proto.js';
import { float16ToFloat32 } from '../../src/backend/ort/tensors.js';
import { readFileSync } from 'node:fs';

export const loadModel = (path: string) => decodeModel(readFileSync(path));

export const countOps = (m: ModelProto, op: string) => (m.graph?.node ?? []).filter((n) => n.op_type === op).length;

/** The named outputs as float32 (float16 outputs widened). */
export async function outputs(model: ModelProto, feeds: Record<string, ort.Tensor>, names: string[]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
  try {
    const r = await s.run(feeds, names);
    return names.map((n) => (r[n].type === 'float16' ? float16ToFloat32(r[n].data as Uint16Array) : (r[n].data as Float32Array)));
  } finally {
    await s.release();
  }
}

export const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

/** float32 pixel_values [batch, 3, size, size] that are not flat, so attention has something to mix. */
export function pixelValues(batch: number, size: number): ort.Tensor {
  const n = batch * 3 * size * size;
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011)),
    [batch, 3, size, size],
  );
}

/** uint8 pixels [batch, size, size, 3], as the served vision graph takes them (pixel-input.ts). */
export function uint8Pixels(batch: number, size: number): ort.Tensor {
  return new ort.Tensor(
    'uint8',
    Uint8Array.from({ length: batch * size * size * 3 }, (_, i) => (i * 7919) % 256),
    [batch, size, size, 3],
  );
}
