import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { patchMatMul } from '../../../src/backend/onnx/patch-matmul.js';
import { decodeModel, encodeModel, type ModelProto } from '../../../src/backend/onnx/onnx-proto.js';
import { extractSubgraph } from '../../../src/backend/onnx/subgraph.js';

const count = (m: ModelProto, op: string) => (m.graph?.node ?? []).filter((n) => n.op_type === op).length;

async function run(model: ModelProto, pixels: Float32Array, size: number, output: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
  try {
    return (await s.run({ pixel_values: new ort.Tensor('float32', pixels, [3, 3, size, size]) }, [output]))[output].data as Float32Array;
  } finally {
    await s.release();
  }
}

for (const [name, model, size, output] of [
  ['SigLIP (patch 16, 64 px)', decodeModel(readFileSync('test/fixtures/tiny-siglip/onnx/vision_model.onnx')), 64, 'pooler_output'],
  ['CLIP (patch 16, 48 px, no bias)', extractSubgraph(decodeModel(readFileSync('test/fixtures/tiny-clip/model.onnx')), ['image_embeds']), 48, 'image_embeds'],
] as const) {
  test(`${name}: the patch Conv becomes Reshape, Transpose, MatMul, and the vectors do not change`, async () => {
    const { model: rewritten, rewritten: n } = patchMatMul(model, 'pixel_values', size, size);
    assert.equal(n, 1);
    assert.equal(count(rewritten, 'Conv'), 0);
    assert.equal(count(rewritten, 'MatMul'), count(model, 'MatMul') + 1);
    const pixels = Float32Array.from({ length: 3 * 3 * size * size }, (_, i) => Math.sin(i * 0.61) + Math.cos(i * 0.013));
    const [a, b] = [await run(model, pixels, size, output), await run(rewritten, pixels, size, output)];
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-5, `${i}: ${b[i]} vs ${x}`));
  });
}

test('a Conv the rewrite does not cover (size not a multiple of the stride, another input) is kept', () => {
  const model = decodeModel(readFileSync('test/fixtures/tiny-siglip/onnx/vision_model.onnx'));
  assert.equal(patchMatMul(model, 'pixel_values', 60, 64).rewritten, 0);
  assert.equal(patchMatMul(model, 'something_else', 64, 64).model, model);
});
