import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuseGelu } from '../../src/onnx-graph/fuse-gelu.js';
import { pixelInput } from '../../src/onnx-graph/pixel-input.js';
import { makeNode } from '../../src/onnx-graph/onnx-proto.js';
import { extractSubgraph } from '../../src/onnx-graph/subgraph.js';
import { cosine } from '../helpers/server.js';
import { countOps, loadModel, maxAbsDiff, outputs, pixelValues, uint8Pixels } from '../helpers/onnx-run.js';

const SIGLIP = 'test/fixtures/tiny-siglip/onnx/vision_model.onnx';
const SIGLIP_FP16 = 'test/fixtures/tiny-siglip/onnx/vision_model_fp16.onnx';
const CLIP = 'test/fixtures/tiny-clip/model.onnx';

test("SigLIP's tanh GELUs become FastGelu with the fc1 bias, and the outputs do not change", async () => {
  const before = loadModel(SIGLIP);
  const { model, fused } = fuseGelu(before);
  assert.equal(fused, countOps(before, 'Tanh'), 'every MLP: two encoder layers and the pooling head');
  assert.equal(countOps(model, 'Tanh'), 0);
  assert.equal(countOps(model, 'FastGelu'), fused);
  assert.ok(
    model.graph!.node!.filter((n) => n.op_type === 'FastGelu').every((n) => n.input!.length === 2 && n.domain === 'com.microsoft'),
    'the fc1 bias is its bias input',
  );
  assert.equal(countOps(model, 'Add'), countOps(before, 'Add') - 3 * fused, 'x + 0.044715x^3, 1 + tanh and the bias Add');
  const feeds = { pixel_values: pixelValues(2, 64) };
  const [[a], [b]] = [await outputs(before, feeds, ['last_hidden_state']), await outputs(model, feeds, ['last_hidden_state'])];
  assert.ok(maxAbsDiff(a, b) < 1e-4, `last_hidden_state: ${maxAbsDiff(a, b)}`);
});

test('a float16 tower as served fuses within half-float rounding', async () => {
  const half = pixelInput(loadModel(SIGLIP_FP16), { scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], shift: [-1, -1, -1], height: 64, width: 64 });
  const { model, fused } = fuseGelu(half);
  assert.equal(fused, countOps(half, 'Tanh'));
  const feeds = { pixels: uint8Pixels(2, 64) };
  const [[a], [b]] = [await outputs(half, feeds, ['pooler_output']), await outputs(model, feeds, ['pooler_output'])];
  for (let r = 0; r < 2; r++) assert.ok(cosine(a.subarray(r * 32, r * 32 + 32), b.subarray(r * 32, r * 32 + 32)) > 0.9999);
});

test("a bias Add before a one-input FastGelu (ONNX Runtime's transformer optimizer writes these) moves into it", async () => {
  const fused = fuseGelu(loadModel(SIGLIP)).model;
  const node = fused.graph!.node!.flatMap((n) =>
    n.op_type === 'FastGelu' ? [makeNode('Add', [n.input![0], n.input![1]], [`${n.output![0]}_x`]), { ...n, input: [`${n.output![0]}_x`] }] : [n],
  );
  const optimized = { ...fused, graph: { ...fused.graph, node } };
  const again = fuseGelu(optimized);
  assert.equal(again.fused, countOps(fused, 'FastGelu'));
  assert.equal(countOps(again.model, 'Add'), countOps(fused, 'Add'));
  assert.ok(again.model.graph!.node!.filter((n) => n.op_type === 'FastGelu').every((n) => n.input!.length === 2));
  const feeds = { pixel_values: pixelValues(1, 64) };
  const [[a], [b]] = [await outputs(optimized, feeds, ['pooler_output']), await outputs(again.model, feeds, ['pooler_output'])];
  assert.ok(maxAbsDiff(a, b) < 1e-4);
});

test("CLIP's quick GELU (x * sigmoid(1.702 x)) is not this pattern and is left as it is", () => {
  const vision = extractSubgraph(loadModel(CLIP), ['image_embeds']);
  const { model, fused } = fuseGelu(vision);
  assert.equal(fused, 0);
  assert.equal(model, vision);
});

test('a GELU whose inner value is read elsewhere is left as it is', () => {
  const model = loadModel(SIGLIP);
  const tanh = model.graph!.node!.find((n) => n.op_type === 'Tanh')!;
  model.graph!.output!.push({ name: tanh.output![0] });
  assert.equal(fuseGelu(model).fused, countOps(model, 'Tanh') - 1);
});
