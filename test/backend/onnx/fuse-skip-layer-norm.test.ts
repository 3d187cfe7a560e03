import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { fuseAttention } from '../../../src/backend/onnx/fuse-attention.js';
import { fuseSkipLayerNorm } from '../../../src/backend/onnx/fuse-skip-layer-norm.js';
import { pixelInput } from '../../../src/backend/onnx/pixel-input.js';
import { decodeModel, encodeModel, type ModelProto } from '../../../src/backend/onnx/onnx-proto.js';
import { extractSubgraph } from '../../../src/backend/onnx/subgraph.js';
import { float16ToFloat32 } from '../../../src/backend/ort/tensors.js';
import { cosine } from '../../helpers/server.js';

const SIGLIP = 'test/fixtures/tiny-siglip/onnx/vision_model.onnx';
const SIGLIP_FP16 = 'test/fixtures/tiny-siglip/onnx/vision_model_fp16.onnx';
const CLIP = 'test/fixtures/tiny-clip/model.onnx';

const load = (path: string) => decodeModel(readFileSync(path));
const count = (m: ModelProto, op: string) => (m.graph?.node ?? []).filter((n) => n.op_type === op).length;

async function outputs(model: ModelProto, feeds: Record<string, ort.Tensor>, names: string[]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
  try {
    const r = await s.run(feeds, names);
    return names.map((n) => (r[n].type === 'float16' ? float16ToFloat32(r[n].data as Uint16Array) : (r[n].data as Float32Array)));
  } finally {
    await s.release();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

function pixels(batch: number, size: number): ort.Tensor {
  const n = batch * 3 * size * size;
  return new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011)), [batch, 3, size, size]);
}

test('SigLIP: residual Add + LayerNorm + projection bias become SkipLayerNormalization, outputs unchanged', async () => {
  const before = fuseAttention(load(SIGLIP)).model;
  const { model, fused } = fuseSkipLayerNorm(before);
  // Per layer: LN2 (after attention) and the next layer's LN1 or the post-layernorm (after the MLP);
  // the first LN1 reads embeddings + positions, the pooling head's reads attention output: both kept.
  assert.equal(fused, 4);
  assert.equal(count(model, 'SkipLayerNormalization'), 4);
  assert.equal(count(model, 'LayerNormalization'), count(before, 'LayerNormalization') - 4);
  assert.equal(count(model, 'Add'), count(before, 'Add') - 2 * 4, 'a bias Add and a residual Add per fusion');
  const sln = model.graph!.node!.find((n) => n.op_type === 'SkipLayerNormalization')!;
  assert.equal(sln.domain, 'com.microsoft');
  assert.equal(sln.input!.length, 5, 'the projection bias is its bias input');
  assert.ok(Math.abs(sln.attribute!.find((a) => a.name === 'epsilon')!.f! - 1e-6) < 1e-9, "the LayerNorm's epsilon (SigLIP: 1e-6), not the op's default");
  const feeds = { pixel_values: pixels(3, 64) };
  const names = ['last_hidden_state', 'pooler_output'];
  const [a, b] = [await outputs(before, feeds, names), await outputs(model, feeds, names)];
  names.forEach((n, i) => assert.ok(maxAbsDiff(a[i], b[i]) < 1e-4, `${n}: ${maxAbsDiff(a[i], b[i])}`));
});

test('a float16 tower as served (uint8 images in, attention fused) fuses within half-float rounding', async () => {
  const half = fuseAttention(pixelInput(load(SIGLIP_FP16), { scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], shift: [-1, -1, -1], height: 64, width: 64 })).model;
  const { model, fused } = fuseSkipLayerNorm(half);
  assert.equal(fused, 4);
  const feeds = { pixels: new ort.Tensor('uint8', Uint8Array.from({ length: 2 * 64 * 64 * 3 }, (_, i) => (i * 7919) % 256), [2, 64, 64, 3]) };
  const [a] = await outputs(half, feeds, ['pooler_output']);
  const [b] = await outputs(model, feeds, ['pooler_output']);
  for (let r = 0; r < 2; r++) assert.ok(cosine(a.subarray(r * 32, r * 32 + 32), b.subarray(r * 32, r * 32 + 32)) > 0.9999);
});

test('CLIP: both towers fuse and keep their outputs', async () => {
  const clip = load(CLIP);
  const vision = extractSubgraph(clip, ['image_embeds']);
  const v = fuseSkipLayerNorm(vision);
  assert.ok(v.fused >= 2, `vision fused ${v.fused}`);
  const [a] = await outputs(vision, { pixel_values: pixels(2, 48) }, ['image_embeds']);
  const [b] = await outputs(v.model, { pixel_values: pixels(2, 48) }, ['image_embeds']);
  assert.ok(maxAbsDiff(a, b) < 1e-4, `image_embeds: ${maxAbsDiff(a, b)}`);
});

test('a LayerNorm whose mean output is read, or a graph without the pattern, is left as it is', () => {
  const model = load(SIGLIP);
  const lns = model.graph!.node!.filter((n) => n.op_type === 'LayerNormalization');
  for (const ln of lns) ln.output = [ln.output![0], `${ln.output![0]}_mean`];
  assert.equal(fuseSkipLayerNorm(model).fused, 0);
  const text = extractSubgraph(load(CLIP), ['image_embeds']);
  const once = fuseSkipLayerNorm(text).model;
  const twice = fuseSkipLayerNorm(once);
  assert.equal(twice.fused, 0);
  assert.equal(twice.model, once);
});
