import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuseAttention } from '../../src/onnx-graph/fuse-attention.js';
import { fuseSkipLayerNorm } from '../../src/onnx-graph/fuse-skip-layer-norm.js';
import { pixelInput } from '../../src/onnx-graph/pixel-input.js';
import { extractSubgraph } from '../../src/onnx-graph/subgraph.js';
import { cosine } from '../helpers/server.js';
import { countOps, loadModel, maxAbsDiff, outputs, pixelValues, uint8Pixels } from '../helpers/onnx-run.js';

const SIGLIP = 'test/fixtures/tiny-siglip/onnx/vision_model.onnx';
const SIGLIP_FP16 = 'test/fixtures/tiny-siglip/onnx/vision_model_fp16.onnx';
const CLIP = 'test/fixtures/tiny-clip/model.onnx';

test('SigLIP: residual Add + LayerNorm + projection bias become SkipLayerNormalization, outputs unchanged', async () => {
  const before = fuseAttention(loadModel(SIGLIP)).model;
  const { model, fused } = fuseSkipLayerNorm(before);
  // Per layer: LN2 (after attention) and the next layer's LN1 or the post-layernorm (after the MLP);
  // the first LN1 reads embeddings + positions, the pooling head's reads attention output: both kept.
  assert.equal(fused, 4);
  assert.equal(countOps(model, 'SkipLayerNormalization'), 4);
  assert.equal(countOps(model, 'LayerNormalization'), countOps(before, 'LayerNormalization') - 4);
  assert.equal(countOps(model, 'Add'), countOps(before, 'Add') - 2 * 4, 'a bias Add and a residual Add per fusion');
  const sln = model.graph!.node!.find((n) => n.op_type === 'SkipLayerNormalization')!;
  assert.equal(sln.domain, 'com.microsoft');
  assert.equal(sln.input!.length, 5, 'the projection bias is its bias input');
  assert.ok(Math.abs(sln.attribute!.find((a) => a.name === 'epsilon')!.f! - 1e-6) < 1e-9, "the LayerNorm's epsilon (SigLIP: 1e-6), not the op's default");
  const feeds = { pixel_values: pixelValues(3, 64) };
  const names = ['last_hidden_state', 'pooler_output'];
  const [a, b] = [await outputs(before, feeds, names), await outputs(model, feeds, names)];
  names.forEach((n, i) => assert.ok(maxAbsDiff(a[i], b[i]) < 1e-4, `${n}: ${maxAbsDiff(a[i], b[i])}`));
});

test('a float16 tower as served (uint8 images in, attention fused) fuses within half-float rounding', async () => {
  const half = fuseAttention(
    pixelInput(loadModel(SIGLIP_FP16), { scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], shift: [-1, -1, -1], height: 64, width: 64 }),
  ).model;
  const { model, fused } = fuseSkipLayerNorm(half);
  assert.equal(fused, 4);
  const feeds = { pixels: uint8Pixels(2, 64) };
  const [a] = await outputs(half, feeds, ['pooler_output']);
  const [b] = await outputs(model, feeds, ['pooler_output']);
  for (let r = 0; r < 2; r++) assert.ok(cosine(a.subarray(r * 32, r * 32 + 32), b.subarray(r * 32, r * 32 + 32)) > 0.9999);
});

test('CLIP: both towers fuse and keep their outputs', async () => {
  const clip = loadModel(CLIP);
  const vision = extractSubgraph(clip, ['image_embeds']);
  const v = fuseSkipLayerNorm(vision);
  assert.ok(v.fused >= 2, `vision fused ${v.fused}`);
  const [a] = await outputs(vision, { pixel_values: pixelValues(2, 48) }, ['image_embeds']);
  const [b] = await outputs(v.model, { pixel_values: pixelValues(2, 48) }, ['image_embeds']);
  assert.ok(maxAbsDiff(a, b) < 1e-4, `image_embeds: ${maxAbsDiff(a, b)}`);
});

test('a LayerNorm whose mean output is read, or a graph without the pattern, is left as it is', () => {
  const model = loadModel(SIGLIP);
  const lns = model.graph!.node!.filter((n) => n.op_type === 'LayerNormalization');
  for (const ln of lns) ln.output = [ln.output![0], `${ln.output![0]}_mean`];
  assert.equal(fuseSkipLayerNorm(model).fused, 0);
  const text = extractSubgraph(loadModel(CLIP), ['image_embeds']);
  const once = fuseSkipLayerNorm(text).model;
  const twice = fuseSkipLayerNorm(once);
  assert.equal(twice.fused, 0);
  assert.equal(twice.model, once);
});
