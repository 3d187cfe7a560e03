import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { PIXELS_INPUT, pixelInput } from '../../src/onnx-graph/pixel-input.js';
import { decodeModel, encodeModel } from '../../src/onnx-graph/onnx-proto.js';
import { float16ToFloat32 } from '../../src/backend/ort/tensors.js';
import { cosine } from '../helpers/server.js';

const DIR = 'test/fixtures/tiny-siglip/onnx';
const SIZE = 64;
// CLIP-like per-channel values, so a swapped channel or a missing transpose shows.
const NORM = { scale: [0.0145, 0.0151, 0.0142], shift: [-1.79, -1.75, -1.48], height: SIZE, width: SIZE };

/** Two images of 8-bit RGB [H, W, 3] and, computed here, the pixel_values [3, H, W] the tower would take. */
function images(): { hwc: Uint8Array; chw: Float32Array } {
  const plane = SIZE * SIZE;
  const hwc = Uint8Array.from({ length: 2 * plane * 3 }, (_, i) => (i * 7919 + (i >> 7) * 13) % 256);
  const chw = new Float32Array(hwc.length);
  for (let b = 0; b < 2; b++) {
    for (let p = 0; p < plane; p++)
      for (let c = 0; c < 3; c++) chw[b * 3 * plane + c * plane + p] = hwc[(b * plane + p) * 3 + c] * NORM.scale[c] + NORM.shift[c];
  }
  return { hwc, chw };
}

async function pooled(graph: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(graph, { executionProviders: ['cpu'] });
  try {
    const t = (await s.run(feeds, ['pooler_output'])).pooler_output;
    return t.type === 'float16' ? float16ToFloat32(t.data as Uint16Array) : (t.data as Float32Array);
  } finally {
    await s.release();
  }
}

for (const [file, type] of [
  ['vision_model.onnx', 'float32'],
  ['vision_model_fp16.onnx', 'float16'],
] as const) {
  test(`${file}: uint8 [B, H, W, 3] in, normalized and transposed in the graph, same vectors as pixel_values computed in JS`, async () => {
    const bytes = readFileSync(`${DIR}/${file}`);
    const served = pixelInput(decodeModel(bytes), NORM);
    const input = served.graph!.input!.find((i) => i.name === PIXELS_INPUT)!;
    assert.ok(input, 'the graph takes pixels');
    assert.ok(!served.graph!.input!.some((i) => i.name === 'pixel_values'));
    const { hwc, chw } = images();
    const original = type === 'float32' ? new ort.Tensor('float32', chw, [2, 3, SIZE, SIZE]) : null;
    const got = await pooled(encodeModel(served), { [PIXELS_INPUT]: new ort.Tensor('uint8', hwc, [2, SIZE, SIZE, 3]) });
    if (original) {
      const want = await pooled(bytes, { pixel_values: original });
      want.forEach((x, i) => assert.ok(Math.abs(x - got[i]) < 1e-5, `${i}: ${got[i]} vs ${x}`));
    } else {
      // The fp16 tower in fp32 is the reference: half-float rounding only.
      const want = await pooled(readFileSync(`${DIR}/vision_model.onnx`), { pixel_values: new ort.Tensor('float32', chw, [2, 3, SIZE, SIZE]) });
      const d = want.length / 2;
      for (let r = 0; r < 2; r++) assert.ok(cosine(want.subarray(r * d, (r + 1) * d), got.subarray(r * d, (r + 1) * d)) > 0.999);
    }
  });
}

test('a graph without float pixel_values is refused, naming the problem', () => {
  const model = decodeModel(readFileSync(`${DIR}/text_model.onnx`));
  assert.throws(() => pixelInput(model, NORM), /takes no pixel_values/);
});
