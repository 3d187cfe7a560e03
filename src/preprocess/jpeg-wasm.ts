/**
 * JPEG decoding with libjpeg-turbo's decoder (the mozjpeg build in @jsquash/jpeg) compiled to
 * WebAssembly, run synchronously on the calling thread (an image worker).
 *
 * Why not sharp for these: a libvips pipeline costs ~0.6 ms per call before any pixel is decoded
 * (metadata alone), and a 224 x 224 JPEG ~2.2-3.2 ms of CPU in all; this decoder does it in
 * ~1.2 ms, with the same pixels (both are libjpeg with the default integer IDCT and fancy
 * upsampling, as Pillow's is). bench/jpeg-decode.ts measures the two side by side.
 *
 * Only small JPEGs it decodes exactly as sharp would come here (jpegLayout): 8-bit Huffman, grey
 * or three-component, no EXIF rotation, not cut short. Everything else, and anything this decoder
 * fails on, goes to sharp, which says what is wrong.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { JpegLayout } from './jpeg-layout.js';

interface DecodedRgba {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

interface MozJpegModule {
  decode(data: Uint8Array, preserveOrientation: boolean): DecodedRgba | null;
}

type ModuleFactory = (options: Record<string, unknown>) => Promise<MozJpegModule>;

// The global WebAssembly API, as far as used here (this project's TS libs do not declare it).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
};

let loading: Promise<MozJpegModule> | null = null;
/** Compiled once per thread; an instance that hit exit() is replaced by a fresh instance of it. */
let compiled: object | null = null;

function load(): Promise<MozJpegModule> {
  loading ??= import('@jsquash/jpeg/codec/dec/mozjpeg_dec.js').then((m) =>
    (m.default as unknown as ModuleFactory)({
      noInitialRun: true,
      // Left to itself the loader fetch()es the .wasm by URL, which Node cannot do for files.
      instantiateWasm: (imports: object, done: (instance: object) => void) => {
        compiled ??= new WebAssembly.Module(readFileSync(fileURLToPath(import.meta.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'))));
        const instance = new WebAssembly.Instance(compiled, imports);
        done(instance);
        return instance.exports;
      },
      // libjpeg's warnings (e.g. "Premature end of JPEG file") would go to stderr.
      print: () => {},
      printErr: () => {},
    }),
  );
  return loading;
}

/**
 * Above this size libvips' SIMD decoding outweighs its per-call cost (bench/jpeg-decode.ts on the
 * 2-core CI machine: wasm 1.7x the images/s at 224 x 224, even at 384 x 384, 0.8x at 1024 x 768).
 */
const WASM_MAX_PIXELS = 1 << 17;

/** True when the WebAssembly decoder should take a JPEG with this layout: it gives sharp's pixels, cheaper. */
export function wasmDecodes(layout: JpegLayout | null, maxPixels: number): layout is JpegLayout {
  return (
    layout?.huffman === true &&
    layout.precision === 8 &&
    (layout.components === 1 || layout.components === 3) &&
    layout.orientation <= 1 &&
    layout.complete &&
    layout.width > 0 &&
    layout.height > 0 &&
    layout.width * layout.height <= Math.min(maxPixels, WASM_MAX_PIXELS)
  );
}

/** Interleaved 8-bit RGB, or null when the decoder refused the data (the caller asks sharp). */
export async function decodeJpegRgb(bytes: Uint8Array): Promise<{ data: Uint8Array; width: number; height: number } | null> {
  const module = await load();
  let rgba: DecodedRgba | null;
  try {
    rgba = module.decode(bytes, true);
  } catch {
    // libjpeg's fatal errors end in exit(), which leaves the instance unusable: start a fresh one.
    loading = null;
    return null;
  }
  if (!rgba) return null;
  const { data, width, height } = rgba;
  return { data: rgbaToRgb(data, width * height), width, height };
}

/**
 * Drops the alpha bytes, four pixels (16 bytes in, 12 out) per step in 32-bit words
 * (little-endian: R is a word's low byte): twice as fast as byte by byte, which cost a third as
 * much as the decoding itself in the image workers' profile.
 */
function rgbaToRgb(data: Uint8ClampedArray, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  const src = data.byteOffset % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, pixels) : new Uint32Array(Uint8Array.from(data).buffer);
  const out = new Uint32Array(rgb.buffer, 0, (pixels >> 2) * 3);
  let p = 0;
  for (let q = 0; p + 3 < pixels; p += 4, q += 3) {
    const a = src[p] & 0xffffff;
    const b = src[p + 1] & 0xffffff;
    const c = src[p + 2] & 0xffffff;
    const d = src[p + 3] & 0xffffff;
    out[q] = a | (b << 24);
    out[q + 1] = (b >>> 8) | (c << 16);
    out[q + 2] = (c >>> 16) | (d << 8);
  }
  for (let j = p * 3; p < pixels; p++, j += 3) {
    const v = src[p];
    rgb[j] = v;
    rgb[j + 1] = v >>> 8;
    rgb[j + 2] = v >>> 16;
  }
  return rgb;
}
