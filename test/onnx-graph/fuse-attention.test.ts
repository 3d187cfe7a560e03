import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuseAttention } from '../../src/onnx-graph/fuse-attention.js';
import { pixelInput } from '../../src/onnx-graph/pixel-input.js';
import { makeValueInfo, DataType } from '../../src/onnx-graph/onnx-proto.js';
import { extractSubgraph } from '../../src/onnx-graph/subgraph.js';
import { cosine } from '../helpers/server.js';
import { countOps, loadModel, maxAbsDiff, outputs, pixelValues, uint8Pixels } from '../helpers/onnx-run.js';

const SIGLIP = 'test/fixtures/tiny-siglip/onnx/vision_model.onnx';
const SIGLIP_FP16 = 'test/fixtures/tiny-siglip/onnx/vision_model_fp16.onnx';
const CLIP = 'test/fixtures/tiny-clip/model.onnx';

test('SigLIP vision attention becomes MultiHeadAttention, one per layer, and the outputs do not change', async () => {
  const before = loadModel(SIGLIP);
  const { model, fused } = fuseAttention(before);
  assert.equal(fused, 2, 'both encoder layers (the pooling head attends from a probe through nn.MultiheadAttention and is kept)');
  assert.equal(countOps(model, 'MultiHeadAttention'), 2);
  assert.equal(countOps(model, 'Softmax'), countOps(before, 'Softmax') - 2);
  const mha = model.graph!.node!.find((n) => n.op_type === 'MultiHeadAttention')!;
  assert.equal(mha.domain, 'com.microsoft');
  assert.equal(Number(mha.attribute!.find((a) => a.name === 'num_heads')!.i), 4, 'heads from the projection width / head size (the export writes -1 heads)');
  assert.ok(Math.abs(mha.attribute!.find((a) => a.name === 'scale')!.f! - 1 / Math.sqrt(8)) < 1e-6, 'the two sqrt(scale) factors folded into one');
  assert.ok(model.graph!.node!.length < before.graph!.node!.length - 2 * 8, 'the reshapes’ shape arithmetic went with them');
  assert.equal(mha.input!.length, 4, 'the q, k and v projection biases are its bias input');
  assert.equal(countOps(model, 'Add'), countOps(before, 'Add') - 2 * 3, 'three bias Adds fewer per layer');
  const feeds = { pixel_values: pixelValues(3, 64) };
  const names = ['last_hidden_state', 'pooler_output'];
  const [a, b] = [await outputs(before, feeds, names), await outputs(model, feeds, names)];
  names.forEach((n, i) => assert.ok(maxAbsDiff(a[i], b[i]) < 1e-5, `${n}: ${maxAbsDiff(a[i], b[i])}`));
});

test('a float16 tower fuses too (as served: fed uint8 images), within half-float rounding', async () => {
  const half = pixelInput(loadModel(SIGLIP_FP16), { scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], shift: [-1, -1, -1], height: 64, width: 64 });
  const { model, fused } = fuseAttention(half);
  assert.equal(fused, 2);
  const feeds = { pixels: uint8Pixels(2, 64) };
  const [a] = await outputs(half, feeds, ['pooler_output']);
  const [b] = await outputs(model, feeds, ['pooler_output']);
  for (let r = 0; r < 2; r++) assert.ok(cosine(a.subarray(r * 32, r * 32 + 32), b.subarray(r * 32, r * 32 + 32)) > 0.9999);
});

test("CLIP: the vision tower's attention fuses, the causal text tower's does not (a mask is added to its scores)", async () => {
  const clip = loadModel(CLIP);
  const vision = fuseAttention(extractSubgraph(clip, ['image_embeds']));
  assert.equal(vision.fused, 2);
  const text = extractSubgraph(clip, ['text_embeds']);
  assert.equal(fuseAttention(text).fused, 0);
  const feeds = { pixel_values: pixelValues(2, 48) };
  const [a] = await outputs(extractSubgraph(clip, ['image_embeds']), feeds, ['image_embeds']);
  const [b] = await outputs(vision.model, feeds, ['image_embeds']);
  assert.ok(maxAbsDiff(a, b) < 1e-5);
});

test('attention whose intermediate is read elsewhere is left as it is', () => {
  const model = loadModel(SIGLIP);
  const firstSoftmax = model.graph!.node!.find((n) => n.op_type === 'Softmax')!;
  // The attention probabilities of layer 0 become a graph output: fusing would lose them.
  model.graph!.output!.push(makeValueInfo(firstSoftmax.output![0], DataType.FLOAT));
  const { model: fusedModel, fused } = fuseAttention(model);
  assert.equal(fused, 1);
  assert.ok(fusedModel.graph!.node!.includes(firstSoftmax));
});

test('a graph without the pattern comes back as the same object', () => {
  const text = extractSubgraph(loadModel(CLIP), ['text_embeds']);
  assert.equal(fuseAttention(text).model, text);
});
