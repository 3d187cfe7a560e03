/**
 * The vision tower's raw ceiling on the device: one CUDA session, batches of 1, 16 and 64 images,
 * fetching only the embedding (as the server does), for the graph as exported (float32
 * pixel_values [B, 3, H, W]) and as served (uint8 [B, H, W, 3] normalized in the graph, attention
 * fused, patch embedding as a MatMul), and as served but with the patch Conv kept; at fixed batch
 * sizes and at sizes that change every call. Prints a table and writes vision-raw.json.
 *
 * usage: node dist/bench/gpu/vision-raw.js --model DIR [--variant fp16] [--out DIR]
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { prepareVisionLanguage } from '../../src/backend/vision-language.js';
import { PIXELS_INPUT, pixelInput } from '../../src/backend/onnx/pixel-input.js';
import { fuseAttention } from '../../src/backend/onnx/fuse-attention.js';
import { decodeModel, encodeModel } from '../../src/backend/onnx/onnx-proto.js';
import { pixelNormalization } from '../../src/preprocess/image.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const dir = arg('model', '/tmp/bench-siglip-base');
const variant = arg('variant', 'fp16');
const out = arg('out', 'bench/results/gpu');

const MIXED = [16, 24, 8, 16, 32, 4];

/** Fixed batch sizes, then batch sizes that change every call, as the image batcher makes them. */
async function time(path: string, feed: (b: number) => Record<string, ort.Tensor>, output: string): Promise<Record<string, { ms: number; imagesPerS: number }>> {
  const session = await ort.InferenceSession.create(path, { executionProviders: [{ name: 'cuda', deviceId: 0 }], intraOpNumThreads: 1 });
  const result: Record<string, { ms: number; imagesPerS: number }> = {};
  const measure = async (sizes: number[], repeat: number) => {
    const feeds = sizes.map(feed);
    for (const f of feeds) await session.run(f, [output]);
    const t0 = performance.now();
    for (let i = 0; i < repeat; i++) for (const f of feeds) await session.run(f, [output]);
    const ms = (performance.now() - t0) / (repeat * sizes.length);
    return { ms, imagesPerS: (sizes.reduce((a, b) => a + b, 0) / sizes.length / ms) * 1000 };
  };
  for (const b of [1, 16, 64]) result[b] = await measure([b], 20);
  result.mixed = await measure(MIXED, 5);
  await session.release();
  return result;
}

const vl = await prepareVisionLanguage(dir, { variant });
const { height: h, width: w } = vl.image;
const exported = join(dir, 'onnx', `vision_model${variant === 'fp32' ? '' : `_${variant}`}.onnx`);
// The served graph without the patch MatMul: the Conv as exported, to measure what that rewrite is for.
const withConv = join(out, 'vision-served-with-conv.onnx');
writeFileSync(withConv, encodeModel(fuseAttention(pixelInput(decodeModel(readFileSync(exported)), pixelNormalization(vl.image))).model));
const pixelValues = (b: number) => ({ pixel_values: new ort.Tensor('float32', new Float32Array(b * 3 * h * w).fill(0.1), [b, 3, h, w]) });
const pixels = (b: number) => ({ [PIXELS_INPUT]: new ort.Tensor('uint8', new Uint8Array(b * h * w * 3).fill(140), [b, h, w, 3]) });
const rows = {
  [`exported (${variant}, float32 pixel_values)`]: await time(exported, pixelValues, 'pooler_output'),
  'uint8 pixels + fused attention, patch Conv kept': await time(withConv, pixels, 'pooler_output'),
  [`served (uint8 pixels, ${vl.visionFusedAttention} attention blocks fused, patch MatMul ${vl.visionPatchMatMul})`]: await time(vl.visionGraphPath, pixels, 'pooler_output'),
};
unlinkSync(withConv);
const lines = ['| graph | batch 1 | batch 16 | batch 64 | batch sizes 16, 24, 8, 16, 32, 4 in turn |', '| --- | ---: | ---: | ---: | ---: |'];
const cell = (r: { ms: number; imagesPerS: number }) => `${r.ms.toFixed(2)} ms (${r.imagesPerS.toFixed(0)} img/s)`;
for (const [name, r] of Object.entries(rows)) lines.push(`| ${name} | ${[1, 16, 64].map((b) => cell(r[b])).join(' | ')} | ${cell(r.mixed)} per batch |`);
console.log(lines.join('\n'));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'vision-raw.json'), JSON.stringify({ model: dir, variant, rows }, null, 1));
