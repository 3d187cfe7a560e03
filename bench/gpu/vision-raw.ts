/**
 * The vision tower's raw ceiling on the device: one CUDA session, batches of 1 to 64 images,
 * fetching only the embedding (as the server does), for the graph as exported (float32
 * pixel_values [B, 3, H, W]), as served (uint8 [B, H, W, 3] normalized in the graph, patch
 * embedding as a MatMul, attention, residual + LayerNorm and GELU fused), and the steps in
 * between; at fixed batch sizes, at sizes that change every call, and at sizes the session has
 * not met. Prints a table and writes vision-raw.json.
 *
 * usage: node dist/bench/gpu/vision-raw.js --model DIR [--variant fp16] [--out DIR]
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { prepareVisionLanguage } from '../../src/model-prep/vision-language.js';
import { PIXEL_VALUES, PIXELS_INPUT, pixelInput } from '../../src/onnx-graph/pixel-input.js';
import { patchMatMul } from '../../src/onnx-graph/patch-matmul.js';
import { fuseAttention } from '../../src/onnx-graph/fuse-attention.js';
import { fuseSkipLayerNorm } from '../../src/onnx-graph/fuse-skip-layer-norm.js';
import { decodeModel, encodeModel, type ModelProto } from '../../src/onnx-graph/onnx-proto.js';
import { pixelNormalization } from '../../src/model-prep/preprocessor-config.js';
import { flagValue } from '../args.js';

const dir = flagValue('model', '/tmp/bench-siglip-base');
const variant = flagValue('variant', 'fp16');
const out = flagValue('out', 'bench/results');

const FIXED = [1, 8, 16, 32, 64];
const MIXED = [16, 24, 8, 16, 32, 4];
const UNSEEN = [13, 17, 11, 19, 14, 21, 27, 35];

/** Fixed batch sizes, then batch sizes that change every call, as the image batcher makes them. */
async function time(
  path: string,
  feed: (b: number) => Record<string, ort.Tensor>,
  output: string,
): Promise<Record<string, { ms: number; imagesPerS: number }>> {
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
  for (const b of FIXED) result[b] = await measure([b], 20);
  result.mixed = await measure(MIXED, 5);
  // Sizes this session has not met: what a first call costs without shape buckets (inputs made
  // before the clock starts, as for the other columns).
  const unseen = UNSEEN.map(feed);
  for (const pass of ['unseenFirst', 'unseenAgain']) {
    const t0 = performance.now();
    for (const f of unseen) await session.run(f, [output]);
    const ms = (performance.now() - t0) / UNSEEN.length;
    result[pass] = { ms, imagesPerS: (UNSEEN.reduce((a, b) => a + b, 0) / UNSEEN.length / ms) * 1000 };
  }
  await session.release();
  return result;
}

const vl = await prepareVisionLanguage(dir, { variant });
const { height: h, width: w } = vl.image;
const exported = join(dir, 'onnx', `vision_model${variant === 'fp32' ? '' : `_${variant}`}.onnx`);
// Steps towards the served graph, to measure what each later rewrite buys: with the first rewrites
// (uint8 pixels, patch MatMul, attention fused without its biases), then with the q/k/v biases
// inside MultiHeadAttention; the served graph adds SkipLayerNormalization.
// The rewrites return new models and leave their input as it was: each step builds on the one before.
const base = patchMatMul(pixelInput(decodeModel(readFileSync(exported)), pixelNormalization(vl.image)), PIXEL_VALUES, h, w).model;
const biasFused = fuseAttention(base, null, { projectionBias: true }).model;
const step = (name: string, model: ModelProto) => {
  const path = join(out, `vision-${name}.onnx`);
  writeFileSync(path, encodeModel(model));
  return path;
};
const firstRewrites = step('first-rewrites', fuseAttention(base, null, { projectionBias: false }).model);
const withBias = step('mha-bias', biasFused);
const withSln = step('skip-ln', fuseSkipLayerNorm(biasFused).model);
const pixelValues = (b: number) => ({ pixel_values: new ort.Tensor('float32', new Float32Array(b * 3 * h * w).fill(0.1), [b, 3, h, w]) });
const pixels = (b: number) => ({ [PIXELS_INPUT]: new ort.Tensor('uint8', new Uint8Array(b * h * w * 3).fill(140), [b, h, w, 3]) });
const rows = {
  [`exported (${variant}, float32 pixel_values)`]: await time(exported, pixelValues, 'pooler_output'),
  'uint8 pixels, patch MatMul, attention fused (biases as Adds)': await time(firstRewrites, pixels, 'pooler_output'),
  '+ q/k/v biases inside MultiHeadAttention': await time(withBias, pixels, 'pooler_output'),
  [`+ ${vl.visionRewrites.skipLayerNorm} SkipLayerNormalization`]: await time(withSln, pixels, 'pooler_output'),
  [`served: + ${vl.visionRewrites.fastGelu} FastGelu with bias`]: await time(vl.visionGraphPath, pixels, 'pooler_output'),
};
for (const path of [firstRewrites, withBias, withSln]) unlinkSync(path);
const lines = [
  `| graph | ${FIXED.map((b) => `batch ${b}`).join(' | ')} | batch sizes ${MIXED.join(', ')} in turn | sizes ${UNSEEN.join(', ')}: first call / again |`,
  `| --- |${FIXED.map(() => ' ---: |').join('')} ---: | ---: |`,
];
const cell = (r: { ms: number; imagesPerS: number }) => `${r.ms.toFixed(2)} ms (${r.imagesPerS.toFixed(0)} img/s)`;
for (const [name, r] of Object.entries(rows)) {
  lines.push(
    `| ${name} | ${FIXED.map((b) => cell(r[b])).join(' | ')} | ${cell(r.mixed)} per batch | ${r.unseenFirst.ms.toFixed(2)} / ${r.unseenAgain.ms.toFixed(2)} ms |`,
  );
}
console.log(lines.join('\n'));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'vision-raw.json'), JSON.stringify({ model: dir, variant, rows }, null, 1));
