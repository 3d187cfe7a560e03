import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { fuseAttention } from '../../../src/backend/onnx/fuse-attention.js';
import { pixelInput } from '../../../src/backend/onnx/pixel-input.js';
import { decodeModel, encodeModel, makeValueInfo, DataType, type ModelProto } from '../../../src/backend/onnx/onnx-proto.js';
import { extractSubgraph } from '../../../src/backend/onnx/subgraph.js';
import { float16ToFloat32 } from '../../../src/backend/ort/tensors.js';
import { cosine } from '../../helpers/server.js';

const SIGLIP = 'test/fixtures/tiny-siglip/onnx/vision_model.onnx';
const SIGLIP_FP16 = 'test/fixtures/tiny-siglip/onnx/vision_model_fp16.onnx';
const CLIP = 'test/fixtures/tiny-clip/model.onnx';

const load = (path: string) => decodeModel(readFileSync(path));
const count = (m: ModelProto, op: string) => (m.graph?.node ?? []).filter((n) => n.op_type === op).length;

/** Pixels that are not flat, so attention has something to mix. */
function pixels(batch: number, size: number): ort.Tensor {
  const n = batch * 3 * size * size;
  return new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011)), [batch, 3, size, size]);
}

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

test('SigLIP vision attention becomes MultiHeadAttention, one per layer, and the outputs do not change', async () => {
  const before = load(SIGLIP);
  const { model, fused } = fuseAttention(before);
  assert.equal(fused, 2, 'both encoder layers (the pooling head attends from a probe through nn.MultiheadAttention and is kept)');
  assert.equal(count(model, 'MultiHeadAttention'), 2);
  assert.equal(count(model, 'Softmax'), count(before, 'Softmax') - 2);
  const mha = model.graph!.node!.find((n) => n.op_type === 'MultiHeadAttention')!;
  assert.equal(mha.domain, 'com.microsoft');
  assert.equal(Number(mha.attribute!.find((a) => a.name === 'num_heads')!.i), 4, 'heads from the projection width / head size (the export writes -1 heads)');
  assert.ok(Math.abs(mha.attribute!.find((a) => a.name === 'scale')!.f! - 1 / Math.sqrt(8)) < 1e-6, 'the two sqrt(scale) factors folded into one');
  assert.ok(model.graph!.node!.length < before.graph!.node!.length - 2 * 8, 'the reshapes’ shape arithmetic went with them');
  assert.equal(mha.input!.length, 4, 'the q, k and v projection biases are its bias input');
  assert.equal(count(model, 'Add'), count(before, 'Add') - 2 * 3, 'three bias Adds fewer per layer');
  const feeds = { pixel_values: pixels(3, 64) };
  const names = ['last_hidden_state', 'pooler_output'];
  const [a, b] = [await outputs(before, feeds, names), await outputs(model, feeds, names)];
  names.forEach((n, i) => assert.ok(maxAbsDiff(a[i], b[i]) < 1e-5, `${n}: ${maxAbsDiff(a[i], b[i])}`));
});

test('a float16 tower fuses too (as served: fed uint8 images), within half-float rounding', async () => {
  const half = pixelInput(load(SIGLIP_FP16), { scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], shift: [-1, -1, -1], height: 64, width: 64 });
  const { model, fused } = fuseAttention(half);
  assert.equal(fused, 2);
  const feeds = { pixels: new ort.Tensor('uint8', Uint8Array.from({ length: 2 * 64 * 64 * 3 }, (_, i) => (i * 7919) % 256), [2, 64, 64, 3]) };
  const [a] = await outputs(half, feeds, ['pooler_output']);
  const [b] = await outputs(model, feeds, ['pooler_output']);
  for (let r = 0; r < 2; r++) assert.ok(cosine(a.subarray(r * 32, r * 32 + 32), b.subarray(r * 32, r * 32 + 32)) > 0.9999);
});

test("CLIP: the vision tower's attention fuses, the causal text tower's does not (a mask is added to its scores)", async () => {
  const clip = load(CLIP);
  const vision = fuseAttention(extractSubgraph(clip, ['image_embeds']));
  assert.equal(vision.fused, 2);
  const text = extractSubgraph(clip, ['text_embeds']);
  assert.equal(fuseAttention(text).fused, 0);
  const feeds = { pixel_values: pixels(2, 48) };
  const [a] = await outputs(extractSubgraph(clip, ['image_embeds']), feeds, ['image_embeds']);
  const [b] = await outputs(vision.model, feeds, ['image_embeds']);
  assert.ok(maxAbsDiff(a, b) < 1e-5);
});

test('attention whose intermediate is read elsewhere is left as it is', () => {
  const model = load(SIGLIP);
  const firstSoftmax = model.graph!.node!.find((n) => n.op_type === 'Softmax')!;
  // The attention probabilities of layer 0 become a graph output: fusing would lose them.
  model.graph!.output!.push(makeValueInfo(firstSoftmax.output![0], DataType.FLOAT));
  const { model: fusedModel, fused } = fuseAttention(model);
  assert.equal(fused, 1);
  assert.ok(fusedModel.graph!.node!.includes(firstSoftmax));
});

test('a graph without the pattern comes back as the same object', () => {
  const text = extractSubgraph(load(CLIP), ['text_embeds']);
  assert.equal(fuseAttention(text).model, text);
});
