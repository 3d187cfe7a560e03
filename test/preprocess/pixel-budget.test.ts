import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { acquirePixels, headerPixels, pixelBudgetShare, pixelsInFlight } from '../../src/preprocess/pixel-budget.js';
import { ImagePreprocessor } from '../../src/preprocess/image-loader.js';
import type { ImageProcessorConfig } from '../../src/preprocess/image.js';
import { within } from '../helpers/wait-for.js';

const png = (width: number, height: number, shade = 90) =>
  sharp({ create: { width, height, channels: 3, background: { r: shade, g: 120, b: 200 } } })
    .png({ compressionLevel: 9 })
    .toBuffer();

test('pixels are read from PNG and JPEG headers', async () => {
  assert.equal(headerPixels(await png(640, 480)), 640 * 480);
  const jpeg = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  assert.equal(headerPixels(jpeg), 300 * 200);
  assert.equal(headerPixels(new Uint8Array([1, 2, 3])), null);
});

test('beyond the budget an image waits until pixels are released; one image alone always proceeds', async () => {
  const share = pixelBudgetShare(3 * 1024 * 1024)!;
  const first = await acquirePixels(share, 2 * 1024 * 1024);
  let second: (() => void) | null = null;
  const waiting = acquirePixels(share, 2 * 1024 * 1024).then((r) => (second = r));
  await new Promise((r) => setImmediate(r));
  assert.equal(second, null, 'the second image waits: 4 Mpx would be over 3');
  first();
  await within(waiting);
  assert.equal(pixelsInFlight(share), 2 * 1024 * 1024);
  second!();
  assert.equal(pixelsInFlight(share), 0);
  const huge = await within(acquirePixels(share, 50 * 1024 * 1024), 1000, 'an image over the whole budget, alone');
  huge();
});

test('image workers decoding many large PNGs at once never hold more decoded pixels than the budget', async () => {
  const limit = 2_500_000;
  const share = pixelBudgetShare(limit)!;
  const config: ImageProcessorConfig = {
    resize: null,
    filter: 'linear',
    crop: { height: 8, width: 8 },
    rescaleFactor: null,
    normalize: null,
    height: 8,
    width: 8,
  };
  const loader = await ImagePreprocessor.start(
    config,
    { maxPixels: 50_000_000, jpegDecoder: 'wasm', pixelBudget: share },
    { allowUrlFetch: false } as never,
    2,
  );
  try {
    const images = await Promise.all(Array.from({ length: 12 }, (_, i) => png(1000, 1000, i * 10)));
    let peak = 0;
    let sampling = true;
    const sample = () => {
      peak = Math.max(peak, pixelsInFlight(share));
      if (sampling) setImmediate(sample);
    };
    sample();
    const prepared = await within(Promise.all(images.map((b, i) => loader.prepare(b.toString('base64'), `inputs[${i}]`))), 60_000, 'the images');
    sampling = false;
    assert.equal(prepared.length, 12);
    for (const [i, p] of prepared.entries()) assert.equal(p.pixels[0], i * 10, `image ${i} is its own`);
    assert.ok(peak > 0, 'the budget was in use');
    assert.ok(peak <= limit + 1024, `at most ${limit} decoded pixels in flight, saw ${peak}`);
    assert.equal(pixelsInFlight(share), 0, 'every image released its pixels');
  } finally {
    await loader.close();
  }
});
