import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { patchMatMul } from '../../src/onnx-graph/patch-matmul.js';
import { decodeModel } from '../../src/onnx-graph/onnx-proto.js';
import { extractSubgraph } from '../../src/onnx-graph/subgraph.js';
import { countOps as count, maxAbsDiff, outputs, pixelValues } from '../helpers/onnx-run.js';

for (const [name, model, size, output] of [
  ['SigLIP (patch 16, 64 px)', decodeModel(readFileSync('test/fixtures/tiny-siglip/onnx/vision_model.onnx')), 64, 'pooler_output'],
  ['CLIP (patch 16, 48 px, no bias)', extractSubgraph(decodeModel(readFileSync('test/fixtures/tiny-clip/model.onnx')), ['image_embeds']), 48, 'image_embeds'],
] as const) {
  test(`${name}: the patch Conv becomes Reshape, Transpose, MatMul, and the vectors do not change`, async () => {
    const { model: rewritten, rewritten: n } = patchMatMul(model, 'pixel_values', size, size);
    assert.equal(n, 1);
    assert.equal(count(rewritten, 'Conv'), 0);
    assert.equal(count(rewritten, 'MatMul'), count(model, 'MatMul') + 1);
    const feeds = { pixel_values: pixelValues(3, size) };
    const [[a], [b]] = [await outputs(model, feeds, [output]), await outputs(rewritten, feeds, [output])];
    assert.ok(maxAbsDiff(a, b) < 1e-5, `max difference ${maxAbsDiff(a, b)}`);
  });
}

test('a Conv the rewrite does not cover (size not a multiple of the stride, another input) is kept', () => {
  const model = decodeModel(readFileSync('test/fixtures/tiny-siglip/onnx/vision_model.onnx'));
  assert.equal(patchMatMul(model, 'pixel_values', 60, 64).rewritten, 0);
  assert.equal(patchMatMul(model, 'something_else', 64, 64).model, model);
});
