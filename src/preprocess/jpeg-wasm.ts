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

let loading: Promise<MozJpegModule> | null = null;

function load(): Promise<MozJpegModule> {
  loading ??= import('@jsquash/jpeg/codec/dec/mozjpeg_dec.js').then((m) =>
    (m.default as unknown as ModuleFactory)({
      noInitialRun: true,
      // Left to itself the loader fetch()es the .wasm by URL, which Node cannot do for files.
      wasmBinary: readFileSync(fileURLToPath(import.meta.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm'))),
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
    layout !== null &&
    layout.huffman &&
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
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = data[i];
    rgb[j + 1] = data[i + 1];
    rgb[j + 2] = data[i + 2];
  }
  return { data: rgb, width, height };
}
