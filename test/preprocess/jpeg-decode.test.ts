/**
 * The WebAssembly JPEG path (jpeg-layout.ts, jpeg-wasm.ts) against sharp: the same pixels for
 * every JPEG it takes, and everything else (EXIF rotation, CMYK, cut-short files) left to sharp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp, { type Sharp } from 'sharp';
import { decodeToRgb, type ImageProcessorConfig } from '../../src/preprocess/image.js';
import { jpegLayout } from '../../src/preprocess/jpeg-layout.js';
import { decodeJpegRgb, wasmDecodes } from '../../src/preprocess/jpeg-wasm.js';
import { imageBytes } from '../helpers/image-fixtures.js';

const WASM = { maxPixels: 50_000_000, jpegDecoder: 'wasm' } as const;
const SHARP = { ...WASM, jpegDecoder: 'sharp' } as const;
/** No resize: decodeToRgb then returns the decoded pixels. */
const AS_IS: ImageProcessorConfig = { resize: null, filter: 'linear', crop: null, rescaleFactor: null, normalize: null, height: 1, width: 1 };

async function sharpRgb(jpeg: Uint8Array): Promise<Buffer> {
  return sharp(jpeg, { autoOrient: true, ignoreIcc: true }).removeAlpha().toColourspace('srgb').raw().toBuffer();
}

/** A busy 333 x 211 picture (odd sizes: partial MCUs at both edges). */
async function picture(): Promise<Sharp> {
  const w = 333;
  const h = 211;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set([(x * 255) / w, (y * 255) / h, 128 + 100 * Math.sin(x / 9 + y / 13) + ((x * 7919 + y * 104729) % 17)], (y * w + x) * 3);
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } });
}

async function variants(): Promise<Record<string, Buffer>> {
  const p = await picture();
  return {
    'baseline 4:2:0': await p.clone().jpeg({ quality: 90 }).toBuffer(),
    'baseline 4:4:4': await p.clone().jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer(),
    progressive: await p.clone().jpeg({ progressive: true, quality: 80 }).toBuffer(),
    'optimised Huffman, trellis': await p.clone().jpeg({ mozjpeg: true }).toBuffer(),
    greyscale: await p.clone().toColourspace('b-w').jpeg().toBuffer(),
  };
}

test('jpegLayout reads size, components, coding and EXIF orientation from the markers', async () => {
  const v = await variants();
  assert.deepEqual(jpegLayout(v['baseline 4:2:0']), { width: 333, height: 211, components: 3, precision: 8, huffman: true, orientation: 0, complete: true });
  assert.equal(jpegLayout(v.greyscale)?.components, 1);
  assert.equal(jpegLayout(v.progressive)?.huffman, true);
  assert.equal(jpegLayout(imageBytes('exif6_160x100.jpg'))?.orientation, 6);
  assert.equal(jpegLayout(imageBytes('exif8_96x128.jpg'))?.orientation, 8);
  const photo = imageBytes('photo_1024x768.jpg');
  assert.equal(jpegLayout(photo.subarray(0, photo.length - 100))?.complete, false);
  assert.equal(jpegLayout(imageBytes('odd_333x211.png')), null);
  assert.equal(jpegLayout(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff])), null, 'a segment longer than the file');
});

test("the WebAssembly decoder gives exactly sharp's pixels", async () => {
  const small = { ...(await variants()), 'fixture grey': imageBytes('grey_100x150.jpg'), 'fixture wide': imageBytes('wide_320x120.jpg') };
  for (const [name, jpeg] of Object.entries(small)) assert.ok(wasmDecodes(jpegLayout(jpeg), WASM.maxPixels), `${name} should take the WebAssembly path`);
  for (const [name, jpeg] of Object.entries({ ...small, 'fixture photo, 1024 x 768': imageBytes('photo_1024x768.jpg') })) {
    const d = await decodeJpegRgb(jpeg);
    assert.ok(d, `${name}: decoded`);
    const ref = await sharpRgb(jpeg);
    assert.equal(d.data.length, ref.length, name);
    assert.ok(Buffer.from(d.data).equals(ref), `${name}: pixels differ from sharp's`);
  }
});

test('EXIF rotation, CMYK, cut-short files and oversized images are left to sharp', async () => {
  const p = await picture();
  const cmyk = await p.clone().toColourspace('cmyk').jpeg().toBuffer();
  const rotated = imageBytes('exif6_160x100.jpg');
  const photo = imageBytes('photo_1024x768.jpg');
  assert.equal(wasmDecodes(jpegLayout(cmyk), WASM.maxPixels), false);
  assert.equal(wasmDecodes(jpegLayout(rotated), WASM.maxPixels), false);
  assert.equal(wasmDecodes(jpegLayout(photo.subarray(0, photo.length / 2)), WASM.maxPixels), false);
  assert.equal(wasmDecodes(jpegLayout(photo), WASM.maxPixels), false, 'large: libvips decodes faster');
  assert.equal(wasmDecodes(jpegLayout(imageBytes('wide_320x120.jpg')), 320 * 120 - 1), false, 'over --max-image-pixels');
  for (const jpeg of [cmyk, rotated]) {
    const viaWasm = await decodeToRgb(jpeg, AS_IS, WASM);
    const viaSharp = await decodeToRgb(jpeg, AS_IS, SHARP);
    assert.deepEqual([viaWasm.width, viaWasm.height], [viaSharp.width, viaSharp.height]);
    assert.ok(Buffer.from(viaWasm.rgb).equals(Buffer.from(viaSharp.rgb)));
  }
});

test('a JPEG the WebAssembly decoder fails on gives null, and the decoder keeps working', async () => {
  const cmyk = await (await picture()).clone().toColourspace('cmyk').jpeg().toBuffer();
  assert.equal(await decodeJpegRgb(cmyk), null);
  const jpeg = imageBytes('wide_320x120.jpg');
  const d = await decodeJpegRgb(jpeg);
  assert.ok(d && Buffer.from(d.data).equals(await sharpRgb(jpeg)));
});
