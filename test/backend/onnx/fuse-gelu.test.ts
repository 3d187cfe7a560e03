import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { fuseGelu } from '../../../src/backend/onnx/fuse-gelu.js';
import { pixelInput } from '../../../src/backend/onnx/pixel-input.js';
import { decodeModel, encodeModel, makeNode, type ModelProto } from '../../../src/backend/onnx/onnx-proto.js';
import { extractSubgraph } from '../../../src/backend/onnx/subgraph.js';
import { float16ToFloat32 } from '../../../src/backend/ort/tensors.js';
import { cosine } from '../../helpers/server.js';

const SIGLIP = 'test/fixtures/tiny-siglip/onnx/vision_model.onnx';
const SIGLIP_FP16 = 'test/fixtures/tiny-siglip/onnx/vision_model_fp16.onnx';
const CLIP = 'test/fixtures/tiny-clip/model.onnx';

const load = (path: string) => decodeModel(readFileSync(path));
const count = (m: ModelProto, op: string) => (m.graph?.node ?? []).filter((n) => n.op_type === op).length;

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>, name: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
  try {
    const r = (await s.run(feeds, [name]))[name];
    return r.type === 'float16' ? float16ToFloat32(r.data as Uint16Array) : (r.data as Float32Array);
  } finally {
    await s.release();
  }
}

test("SigLIP's tanh GELUs become FastGelu with the fc1 bias, and the outputs do not change", async () => {
  const before = load(SIGLIP);
  const { model, fused } = fuseGelu(before);
  assert.equal(fused, count(before, 'Tanh'), 'every MLP: two encoder layers and the pooling head');
  assert.equal(count(model, 'Tanh'), 0);
  assert.equal(count(model, 'FastGelu'), fused);
  assert.ok(model.graph!.node!.filter((n) => n.op_type === 'FastGelu').every((n) => n.input!.length === 2 && n.domain === 'com.microsoft'), 'the fc1 bias is its bias input');
  assert.equal(count(model, 'Add'), count(before, 'Add') - 3 * fused, 'x + 0.044715x^3, 1 + tanh and the bias Add');
  const n = 2 * 3 * 64 * 64;
  const feeds = { pixel_values: new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011)), [2, 3, 64, 64]) };
  const [a, b] = [await run(before, feeds, 'last_hidden_state'), await run(model, feeds, 'last_hidden_state')];
  const diff = a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  assert.ok(diff < 1e-4, `last_hidden_state: ${diff}`);
});

test('a float16 tower as served fuses within half-float rounding', async () => {
  const half = pixelInput(load(SIGLIP_FP16), { scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], shift: [-1, -1, -1], height: 64, width: 64 });
  const { model, fused } = fuseGelu(half);
  assert.equal(fused, count(half, 'Tanh'));
  const feeds = { pixels: new ort.Tensor('uint8', Uint8Array.from({ length: 2 * 64 * 64 * 3 }, (_, i) => (i * 7919) % 256), [2, 64, 64, 3]) };
  const [a, b] = [await run(half, feeds, 'pooler_output'), await run(model, feeds, 'pooler_output')];
  for (let r = 0; r < 2; r++) assert.ok(cosine(a.subarray(r * 32, r * 32 + 32), b.subarray(r * 32, r * 32 + 32)) > 0.9999);
});

test("a bias Add before a one-input FastGelu (ONNX Runtime's transformer optimizer writes these) moves into it", async () => {
  const fused = fuseGelu(load(SIGLIP)).model;
  const node = fused.graph!.node!.flatMap((n) =>
    n.op_type === 'FastGelu' ? [makeNode('Add', [n.input![0], n.input![1]], [`${n.output![0]}_x`]), { ...n, input: [`${n.output![0]}_x`] }] : [n],
  );
  const optimized = { ...fused, graph: { ...fused.graph, node } };
  const again = fuseGelu(optimized);
  assert.equal(again.fused, count(fused, 'FastGelu'));
  assert.equal(count(again.model, 'Add'), count(fused, 'Add'));
  assert.ok(again.model.graph!.node!.filter((n) => n.op_type === 'FastGelu').every((n) => n.input!.length === 2));
  const feeds = { pixel_values: new ort.Tensor('float32', Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.37)), [1, 3, 64, 64]) };
  const [a, b] = [await run(optimized, feeds, 'pooler_output'), await run(again.model, feeds, 'pooler_output')];
  assert.ok(a.every((x, i) => Math.abs(x - b[i]) < 1e-4));
});

test("CLIP's quick GELU (x * sigmoid(1.702 x)) is not this pattern and is left as it is", () => {
  const vision = extractSubgraph(load(CLIP), ['image_embeds']);
  const { model, fused } = fuseGelu(vision);
  assert.equal(fused, 0);
  assert.equal(model, vision);
});

test('a GELU whose inner value is read elsewhere is left as it is', () => {
  const model = load(SIGLIP);
  const tanh = model.graph!.node!.find((n) => n.op_type === 'Tanh')!;
  model.graph!.output!.push({ name: tanh.output![0] });
  assert.equal(fuseGelu(model).fused, count(model, 'Tanh') - 1);
});
