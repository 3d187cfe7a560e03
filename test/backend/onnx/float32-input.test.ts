import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { float32Input } from '../../../src/backend/onnx/float32-input.js';
import { decodeModel, encodeModel } from '../../../src/backend/onnx/onnx-proto.js';
import { float32ToFloat16 } from '../../../src/backend/ort/vision-tensors.js';
import { float16ToFloat32 } from '../../../src/backend/ort/tensors.js';

const FP16 = 'test/fixtures/tiny-siglip/onnx/vision_model_fp16.onnx';
const FP32 = 'test/fixtures/tiny-siglip/onnx/vision_model.onnx';

test('a float16 pixel input becomes float32 with a Cast in the graph, and the outputs do not change', async () => {
  const bytes = readFileSync(FP16);
  const rewritten = float32Input(decodeModel(bytes), 'pixel_values');
  assert.ok(rewritten, 'the fp16 tower takes float16 pixels');
  const before = await ort.InferenceSession.create(bytes);
  const after = await ort.InferenceSession.create(encodeModel(rewritten));
  const meta = after.inputMetadata.find((m) => m.name === 'pixel_values');
  assert.ok(meta && meta.isTensor && meta.type === 'float32');
  const [, , h, w] = (meta as { shape: readonly (number | string)[] }).shape as number[];
  const pixels = Float32Array.from({ length: 2 * 3 * h * w }, (_, i) => Math.sin(i) * 2);
  const shape = [2, 3, h, w];
  const out = before.outputNames.find((n) => n === 'pooler_output') ?? before.outputNames[0];
  const a = (await before.run({ pixel_values: new ort.Tensor('float16', float32ToFloat16(pixels), shape) }))[out];
  const b = (await after.run({ pixel_values: new ort.Tensor('float32', pixels, shape) }))[out];
  const asFloat = (t: ort.Tensor) => (t.type === 'float16' ? float16ToFloat32(t.data as Uint16Array) : (t.data as Float32Array));
  // ONNX Runtime's Cast and the JS conversion may round a few pixels differently by one half-float ulp.
  const x = asFloat(a);
  const y = asFloat(b);
  assert.equal(y.length, x.length);
  let dot = 0, nx = 0, ny = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i] * y[i];
    nx += x[i] * x[i];
    ny += y[i] * y[i];
  }
  assert.ok(dot / Math.sqrt(nx * ny) > 0.9999, `cosine ${dot / Math.sqrt(nx * ny)}`);
});

test('a float32 input is left alone', () => {
  assert.equal(float32Input(decodeModel(readFileSync(FP32)), 'pixel_values'), null);
});
