/**
 * The vision tower's raw ceiling on the device: one CUDA session, batches of 1, 16 and 64 images,
 * fetching only the embedding (as the server does), for the graph as exported (float32
 * pixel_values [B, 3, H, W]) and as served (uint8 [B, H, W, 3] normalized in the graph, attention
 * fused). Prints a table and writes vision-raw.json.
 *
 * usage: node dist/bench/gpu/vision-raw.js --model DIR [--variant fp16] [--out DIR]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { prepareVisionLanguage } from '../../src/backend/vision-language.js';
import { PIXELS_INPUT } from '../../src/backend/onnx/pixel-input.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const dir = arg('model', '/tmp/bench-siglip-base');
const variant = arg('variant', 'fp16');
const out = arg('out', 'bench/results/gpu');

async function time(path: string, feed: (b: number) => Record<string, ort.Tensor>, output: string): Promise<Record<number, { ms: number; imagesPerS: number }>> {
  const session = await ort.InferenceSession.create(path, { executionProviders: [{ name: 'cuda', deviceId: 0 }], intraOpNumThreads: 1 });
  const result: Record<number, { ms: number; imagesPerS: number }> = {};
  for (const b of [1, 16, 64]) {
    const feeds = feed(b);
    for (let i = 0; i < 3; i++) await session.run(feeds, [output]);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) await session.run(feeds, [output]);
    const ms = (performance.now() - t0) / 20;
    result[b] = { ms, imagesPerS: (b / ms) * 1000 };
  }
  await session.release();
  return result;
}

const vl = await prepareVisionLanguage(dir, { variant });
const { height: h, width: w } = vl.image;
const exported = join(dir, 'onnx', `vision_model${variant === 'fp32' ? '' : `_${variant}`}.onnx`);
const pixelValues = (b: number) => ({ pixel_values: new ort.Tensor('float32', new Float32Array(b * 3 * h * w).fill(0.1), [b, 3, h, w]) });
const pixels = (b: number) => ({ [PIXELS_INPUT]: new ort.Tensor('uint8', new Uint8Array(b * h * w * 3).fill(140), [b, h, w, 3]) });
const rows = {
  [`exported (${variant}, float32 pixel_values)`]: await time(exported, pixelValues, 'pooler_output'),
  [`served (uint8 pixels, ${vl.visionFusedAttention} attention blocks fused)`]: await time(vl.visionGraphPath, pixels, 'pooler_output'),
};
const lines = ['| graph | batch 1 | batch 16 | batch 64 |', '| --- | ---: | ---: | ---: |'];
for (const [name, r] of Object.entries(rows)) lines.push(`| ${name} | ${[1, 16, 64].map((b) => `${r[b].ms.toFixed(2)} ms (${r[b].imagesPerS.toFixed(0)} img/s)`).join(' | ')} |`);
console.log(lines.join('\n'));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'vision-raw.json'), JSON.stringify({ model: dir, variant, rows }, null, 1));
