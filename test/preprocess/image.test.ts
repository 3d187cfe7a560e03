/**
 * Image preprocessing against transformers' own image processors (references made on the device
 * by scripts/device/make_image_fixtures.py with the torchvision and PIL backends): the resized
 * and cropped 8-bit pixels must equal PIL's exactly and torchvision's within one level; formats,
 * EXIF orientation, alpha, greyscale, animation; every bad input is a 422 that says why.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { isCoalesceError } from '../../src/errors.js';
import { cropRgb, decodeToRgb, preprocessImage, resizedSize, type ImageProcessorConfig } from '../../src/preprocess/image.js';
import { parsePreprocessorConfig, pixelNormalization } from '../../src/model-prep/preprocessor-config.js';
import { loadImageBytes } from '../../src/preprocess/image-source.js';
import { UrlFetchPolicy } from '../../src/preprocess/url-guard.js';
import { resampleRgb } from '../../src/preprocess/resample.js';
import { imageBytes, planes, pngHeaderOnly, preprocessorJson, reference, TINY_CLIP, TINY_SIGLIP } from '../helpers/image-fixtures.js';

const LIMITS = { maxPixels: 50_000_000, jpegDecoder: 'wasm' } as const;
const FIXTURES = [TINY_SIGLIP, TINY_CLIP];

async function rejects422(promise: Promise<unknown>, mentions: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(isCoalesceError(e), `not a CoalesceError: ${e}`);
    assert.equal(e.kind, 'validation', e.message);
    assert.match(e.message, mentions);
    return true;
  });
}

test('preprocessor_config.json is read as transformers reads it', () => {
  const siglip = parsePreprocessorConfig(preprocessorJson(TINY_SIGLIP));
  assert.deepEqual(siglip.resize, { kind: 'exact', height: 64, width: 64 });
  assert.equal(siglip.filter, 'linear');
  assert.equal(siglip.crop, null);
  assert.deepEqual(siglip.normalize, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  const clip = parsePreprocessorConfig(preprocessorJson(TINY_CLIP));
  assert.deepEqual(clip.resize, { kind: 'shortest_edge', shortestEdge: 56, longestEdge: null });
  assert.deepEqual(clip.crop, { height: 48, width: 48 });
  assert.equal(clip.filter, 'cubic');
  assert.deepEqual([clip.height, clip.width], [48, 48]);
  // Old CLIP configs give ints; SigLIP-style configs without a crop mean a square.
  const old = parsePreprocessorConfig({ feature_extractor_type: 'CLIPFeatureExtractor', size: 224, crop_size: 224, do_center_crop: true, resample: 3 });
  assert.deepEqual(old.resize, { kind: 'shortest_edge', shortestEdge: 224, longestEdge: null });
  assert.deepEqual(parsePreprocessorConfig({ size: 384 }).resize, { kind: 'exact', height: 384, width: 384 });
  assert.equal(parsePreprocessorConfig({ size: 32, do_rescale: false, do_normalize: false }).rescaleFactor, null);
  assert.throws(() => parsePreprocessorConfig({ image_processor_type: 'Siglip2ImageProcessor', max_num_patches: 256, patch_size: 16 }), /NaFlex/);
  assert.throws(() => parsePreprocessorConfig({ do_resize: true }), /no "size"/);
  assert.throws(() => parsePreprocessorConfig({ size: 32, resample: 9 }), /resample/);
  assert.throws(() => parsePreprocessorConfig({ size: { shortest_edge: 32 } }), /same size/);
});

test('resize sizes follow get_resize_output_image_size (the long side is truncated)', () => {
  const t = { kind: 'shortest_edge' as const, shortestEdge: 56, longestEdge: null };
  assert.deepEqual(resizedSize(t, 333, 211), { width: 88, height: 56 });
  assert.deepEqual(resizedSize(t, 90, 200), { width: 56, height: 124 });
  assert.deepEqual(resizedSize(t, 300, 8), { width: 2100, height: 56 });
  assert.deepEqual(resizedSize({ ...t, longestEdge: 100 }, 300, 8), { width: 100, height: 2 });
});

for (const dir of FIXTURES) {
  test(`${dir}: resized + cropped pixels equal transformers' PIL processor exactly, torchvision's within 1/255`, async () => {
    const ref = reference(dir);
    const config = parsePreprocessorConfig(preprocessorJson(dir));
    const [, h, w] = ref.pixel_shape;
    assert.ok(ref.pixels.pil && ref.pixels.torchvision, 'both backends are in the reference');
    for (const [i, img] of ref.images.entries()) {
      const { rgb, width, height, source } = await decodeToRgb(imageBytes(img.file), config, LIMITS);
      assert.deepEqual([source.width, source.height], img.loaded_size, `${img.file}: size after EXIF orientation`);
      const got = planes(cropRgb(rgb, width, height, config), h, w);
      for (const [backend, tolerance] of [
        ['pil', 0],
        ['torchvision', 1],
      ] as const) {
        const want = Buffer.from(ref.pixels[backend][i], 'base64');
        let max = 0;
        for (let k = 0; k < want.length; k++) max = Math.max(max, Math.abs(got[k] - want[k]));
        assert.ok(max <= tolerance, `${img.file} vs ${backend}: max difference ${max} levels`);
      }
    }
  });
}

test("the [H, W, 3] pixels and the per-channel scale and shift give the processor's pixel_values", async () => {
  const ref = reference(TINY_CLIP);
  const config = parsePreprocessorConfig(preprocessorJson(TINY_CLIP));
  const i = ref.images.findIndex((x) => x.file === 'odd_333x211.png');
  const t = await preprocessImage(imageBytes('odd_333x211.png'), config, LIMITS);
  const u8 = Buffer.from(ref.pixels.pil[i], 'base64'); // [3, H, W]
  const plane = 48 * 48;
  assert.equal(t.pixels.length, 3 * plane);
  const { scale, shift } = pixelNormalization(config);
  for (let k = 0; k < u8.length; k++) {
    const c = Math.floor(k / plane);
    const want = (u8[k] / 255 - config.normalize!.mean[c]) / config.normalize!.std[c];
    const got = t.pixels[(k % plane) * 3 + c] * scale[c] + shift[c];
    assert.ok(Math.abs(got - want) < 1e-5, `value ${k}: ${got} vs ${want}`);
  }
});

test('center crop larger than the image zero-pads as torchvision does', () => {
  const config: ImageProcessorConfig = {
    resize: null,
    filter: 'cubic',
    crop: { height: 4, width: 4 },
    rescaleFactor: null,
    normalize: null,
    height: 4,
    width: 4,
  };
  const rgb = new Uint8Array(2 * 2 * 3).fill(200);
  const out = cropRgb(rgb, 2, 2, config);
  // (4 - 2) // 2 = 1 row / column of padding before the image.
  const red = [...out].filter((_, k) => k % 3 === 0);
  assert.deepEqual(red, [0, 0, 0, 0, 0, 200, 200, 0, 0, 200, 200, 0, 0, 0, 0, 0]);
  assert.equal(out.length, 4 * 4 * 3);
});

test('Pillow resampling: identity, box average, nearest centre', () => {
  const src = new Uint8Array([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
  assert.equal(resampleRgb(src, 2, 2, 2, 2, 'cubic'), src);
  assert.deepEqual([...resampleRgb(src, 2, 2, 1, 1, 'box')], [139, 139, 139]);
  assert.deepEqual([...resampleRgb(src, 4, 1, 2, 1, 'nearest')], [100, 100, 100, 255, 255, 255]);
  assert.throws(() => resampleRgb(src, 3, 3, 1, 1, 'linear'), /bytes of RGB/);
});

test('alpha is dropped like PIL convert("RGB"), not composited on white', async () => {
  const rgba = Buffer.alloc(4 * 4 * 4);
  for (let p = 0; p < 16; p++) rgba.set([10, 200, 30, p < 8 ? 0 : 128], p * 4);
  const png = await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } })
    .png()
    .toBuffer();
  const config: ImageProcessorConfig = {
    resize: { kind: 'exact', height: 2, width: 2 },
    filter: 'linear',
    crop: null,
    rescaleFactor: null,
    normalize: null,
    height: 2,
    width: 2,
  };
  const t = await preprocessImage(png, config, LIMITS);
  assert.deepEqual([...t.pixels], [10, 200, 30, 10, 200, 30, 10, 200, 30, 10, 200, 30]);
});

test('greyscale images become three equal channels; EXIF orientation is applied', async () => {
  const config = parsePreprocessorConfig(preprocessorJson(TINY_SIGLIP));
  const grey = await preprocessImage(imageBytes('grey_100x150.jpg'), config, LIMITS);
  const plane = 64 * 64;
  for (let k = 0; k < plane; k += 97) assert.ok(grey.pixels[3 * k] === grey.pixels[3 * k + 1] && grey.pixels[3 * k] === grey.pixels[3 * k + 2]);
  const rotated = await preprocessImage(imageBytes('exif6_160x100.jpg'), config, LIMITS);
  assert.deepEqual([rotated.sourceWidth, rotated.sourceHeight, rotated.format], [100, 160, 'jpeg']);
});

test('an animated GIF gives its first frame', async () => {
  const frame = (v: number) =>
    sharp({ create: { width: 8, height: 8, channels: 3, background: { r: v, g: v, b: v } } })
      .raw()
      .toBuffer();
  const frames = Buffer.concat([await frame(40), await frame(220)]);
  const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } as never })
    .gif({ loop: 0 })
    .toBuffer();
  assert.equal((await sharp(gif).metadata()).pages, 2);
  const config: ImageProcessorConfig = {
    resize: { kind: 'exact', height: 8, width: 8 },
    filter: 'linear',
    crop: null,
    rescaleFactor: null,
    normalize: null,
    height: 8,
    width: 8,
  };
  const t = await preprocessImage(gif, config, LIMITS);
  assert.ok(Math.abs(t.pixels[0] - 40) <= 2, `first frame is dark, got ${t.pixels[0]}`);
});

test('bad images are 422s that say what is wrong', async () => {
  const config = parsePreprocessorConfig(preprocessorJson(TINY_SIGLIP));
  const jpeg = imageBytes('photo_1024x768.jpg');
  const png = imageBytes('odd_333x211.png');
  await rejects422(preprocessImage(new Uint8Array(0), config, LIMITS), /empty/);
  await rejects422(preprocessImage(Buffer.from('this is not an image at all'), config, LIMITS), /not an image/);
  await rejects422(preprocessImage(jpeg.subarray(0, jpeg.length / 3), config, LIMITS), /truncated or corrupt/);
  await rejects422(preprocessImage(png.subarray(0, png.length / 2), config, LIMITS), /truncated or corrupt/);
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
  await rejects422(preprocessImage(svg, config, LIMITS), /unsupported image format 'svg'/);
  const started = performance.now();
  await rejects422(preprocessImage(pngHeaderOnly(50_000, 50_000), config, LIMITS), /50000 x 50000 = 2500000000 pixels.*decompression bomb/);
  assert.ok(performance.now() - started < 2000, 'refused from the header, nothing decoded');
  await rejects422(preprocessImage(pngHeaderOnly(0, 10), config, LIMITS), /not an image|no pixels|could not be decoded/);
  await rejects422(preprocessImage(png, config, { ...LIMITS, maxPixels: 1000 }), /--max-image-pixels/);
});

let server: Server;
let base = '';
before(async () => {
  const photo = imageBytes('rgb_224x224.png');
  server = createServer((req, res) => {
    if (req.url === '/photo.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(photo);
    if (req.url === '/big') return res.writeHead(200).end(Buffer.alloc(5000));
    if (req.url === '/slow') return; // never answers: only the client's time limit ends the request
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('image inputs: base64, base64url, data: URIs, URLs only when allowed', async () => {
  const off = { allowUrlFetch: false, fetchTimeoutMs: 5000, fetchMaxBytes: 1_000_000 };
  // The test's own server is on 127.0.0.1: the allow list names it, as an operator would.
  const on = { ...off, allowUrlFetch: true, policy: new UrlFetchPolicy('127.0.0.1') };
  const bytes = imageBytes('tiny_2x2.png');
  const same = (a: Uint8Array, b: Uint8Array) => assert.ok(Buffer.from(a).equals(Buffer.from(b)), 'same bytes');
  same(await loadImageBytes(bytes.toString('base64'), off, 'inputs'), bytes);
  same(await loadImageBytes(bytes.toString('base64url'), off, 'inputs'), bytes);
  same(await loadImageBytes(`data:image/png;base64,${bytes.toString('base64')}`, off, 'inputs'), bytes);
  await rejects422(loadImageBytes('data:text/plain;base64,aGVsbG8=', off, 'inputs[1]'), /inputs\[1\].*text\/plain/);
  await rejects422(loadImageBytes('data:image/png,rawbytes', off, 'inputs'), /base64/);
  await rejects422(loadImageBytes('not base64 at all!', off, 'inputs[0]'), /inputs\[0\] is not base64/);
  await rejects422(loadImageBytes('', off, 'inputs'), /empty/);
  await rejects422(loadImageBytes(`${base}/photo.png`, off, 'inputs'), /--allow-url-fetch/);
  await rejects422(loadImageBytes('ftp://example.com/x.png', on, 'inputs'), /only http\(s\)/);
  same(await loadImageBytes(`${base}/photo.png`, on, 'inputs'), imageBytes('rgb_224x224.png'));
  await rejects422(loadImageBytes(`${base}/missing.png`, on, 'inputs'), /HTTP 404/);
  await assert.rejects(
    loadImageBytes(`${base}/big`, { ...on, fetchMaxBytes: 1000 }, 'inputs'),
    (e: unknown) => isCoalesceError(e) && e.kind === 'payload_too_large' && /url-fetch-max-bytes/.test(e.message),
  );
  await rejects422(loadImageBytes(`${base}/slow`, { ...on, fetchTimeoutMs: 200 }, 'inputs'), /longer than 200 ms/);
});
