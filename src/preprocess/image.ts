/**
 * Image preprocessing for vision towers, with sharp (libvips): decode -> EXIF orientation -> RGB ->
 * resize -> center crop, to [H, W, 3] uint8, following the model's preprocessor_config.json the way
 * transformers' image processors do. Rescale and normalize (model-prep/preprocessor-config.ts pixelNormalization) and the transpose
 * to CHW run inside the vision graph, on the device.
 *
 * sharp decodes (JPEG, PNG, WebP, GIF first frame, TIFF), applies EXIF orientation and converts
 * to 8-bit sRGB; small plain JPEGs, most of what is sent, go to libjpeg in WebAssembly instead
 * (jpeg-wasm.ts: the same pixels for less CPU per call). The resize is Pillow's own algorithm
 * (./resample.ts), not libvips', because libvips box-shrinks by large factors first and aligns
 * upsampling differently: on the tiny SigLIP fixture that cost up to 0.17 of cosine on upscaled
 * images (see bench/results/image-fidelity.md).
 *
 * Choices that keep the vectors close to transformers':
 * - alpha is dropped, not composited: PIL's convert("RGB"), which transformers' load_image and
 *   convert_to_rgb use, keeps the colour under transparent pixels, so we do too;
 * - embedded ICC profiles are ignored (PIL ignores them);
 * - sizes, crop offsets and normalization follow transformers' TorchvisionBackend (the default
 *   in transformers 5), which agrees with its PIL backend except when the crop is larger than
 *   the resized image (then torchvision's zero padding is used).
 */
import { acquirePixels, headerPixels, type PixelBudgetShare } from './pixel-budget.js';
import sharp from 'sharp';
import type { Metadata, Sharp } from 'sharp';
import { CoalesceError, validation } from '../errors.js';
import { resampleRgb, type ResampleFilter } from './resample.js';
import { jpegLayout } from './jpeg-layout.js';
import { decodeJpegRgb, wasmDecodes } from './jpeg-wasm.js';
import { transferableBytes } from '../workers/transferable.js';

export type ResizeTarget =
  | { kind: 'exact'; height: number; width: number }
  /** Shorter side to `shortestEdge`, the other in proportion (transformers truncates it), capped by longestEdge. */
  | { kind: 'shortest_edge'; shortestEdge: number; longestEdge: number | null };

/** What preprocessing a vision tower expects; parsed from preprocessor_config.json by parsePreprocessorConfig. */
export interface ImageProcessorConfig {
  resize: ResizeTarget | null;
  filter: ResampleFilter;
  crop: { height: number; width: number } | null;
  /** Multiplies 0..255 values (do_rescale / rescale_factor); null: left as 0..255. */
  rescaleFactor: number | null;
  normalize: { mean: readonly number[]; std: readonly number[] } | null;
  /** The tensor the model takes: [3, height, width]. */
  height: number;
  width: number;
}

export interface ImageDecodeOptions {
  /** Largest width x height accepted before decoding (decompression-bomb guard). */
  maxPixels: number;
  /** Who decodes plain JPEGs (--jpeg-decoder): libjpeg in WebAssembly (jpeg-wasm.ts) or sharp. */
  jpegDecoder: 'wasm' | 'sharp';
  /** Decoded pixels in flight across every decoding thread (--max-decoded-pixels); unset: unbounded. */
  pixelBudget?: PixelBudgetShare;
}

/** One preprocessed image: [height, width, 3] 8-bit RGB, what the vision graph takes (pixel-input.ts). */
export interface PixelTensor {
  pixels: Uint8Array;
  /** The decoded image (after EXIF orientation), for logs and tests. */
  sourceWidth: number;
  sourceHeight: number;
  format: string;
  /** Where the time went: decoding (sharp) and resize + crop (JS). */
  decodeMs: number;
  resizeMs: number;
}

/** Formats PIL reads too; SVG, PDF, HEIF and friends are refused rather than rendered. */
const SUPPORTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff']);

/** Output size of the resize step for an image of width x height (transformers' get_resize_output_image_size). */
export function resizedSize(target: ResizeTarget, width: number, height: number): { width: number; height: number } {
  if (target.kind === 'exact') return { width: target.width, height: target.height };
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  let newShort = target.shortestEdge;
  let newLong = Math.trunc((target.shortestEdge * long) / short);
  if (target.longestEdge !== null && newLong > target.longestEdge) {
    newShort = Math.trunc((target.longestEdge * newShort) / newLong);
    newLong = target.longestEdge;
  }
  return width <= height ? { width: newShort, height: newLong } : { width: newLong, height: newShort };
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e)).replace(/^Input (buffer|file) /, '');

/** The format from the first bytes, for the formats served; null for anything else. */
export function sniffFormat(bytes: Uint8Array): string | null {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50)
    return 'webp';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)))
    return 'tiff';
  return null;
}

/** Header only, for error messages: what the bytes are and how large they say they are. */
async function header(bytes: Uint8Array): Promise<Metadata | null> {
  try {
    return await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    return null;
  }
}

/** Refuses what is not an image or not a served format, from the first bytes (no decoding). */
async function checkFormat(bytes: Uint8Array): Promise<string> {
  if (bytes.length === 0) throw validation('the image is empty (0 bytes)');
  const format = sniffFormat(bytes);
  if (format && SUPPORTED_FORMATS.has(format)) return format;
  const meta = await header(bytes);
  if (!meta?.format) throw validation('the input is not an image this server can read; send JPEG, PNG, WebP, GIF or TIFF');
  throw validation(`unsupported image format '${meta.format}': send JPEG, PNG, WebP, GIF or TIFF`);
}

async function bombMessage(bytes: Uint8Array, options: ImageDecodeOptions): Promise<string> {
  const meta = await header(bytes);
  const w = meta?.autoOrient?.width ?? meta?.width;
  const h = meta?.autoOrient?.height ?? meta?.height;
  const size = w && h ? `${w} x ${h} = ${w * h} pixels` : 'over the pixel limit';
  return `the image is ${size}, over the limit of ${options.maxPixels} (--max-image-pixels): refused as a possible decompression bomb`;
}

function input(bytes: Uint8Array, options: ImageDecodeOptions): Sharp {
  // failOn 'error': truncated and corrupt files are refused (PIL refuses truncated images too).
  return sharp(bytes, { limitInputPixels: options.maxPixels, failOn: 'error', autoOrient: true, ignoreIcc: true, page: 0, pages: 1 });
}

async function raw(
  pipeline: Sharp,
  bytes: Uint8Array,
  options: ImageDecodeOptions,
): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  try {
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels };
  } catch (e) {
    // libvips checks the pixel limit from the header, before decoding anything.
    if (/pixel limit/i.test(describe(e))) throw validation(await bombMessage(bytes, options));
    throw validation(`the image could not be decoded (${describe(e)}): is it truncated or corrupt?`);
  }
}

/** Plain JPEGs through libjpeg in WebAssembly; null sends the image to sharp. */
async function wasmJpeg(bytes: Uint8Array, options: ImageDecodeOptions): Promise<{ data: Uint8Array; width: number; height: number } | null> {
  return wasmDecodes(jpegLayout(bytes), options.maxPixels) ? decodeJpegRgb(bytes) : null;
}

async function sharpRgb(bytes: Uint8Array, options: ImageDecodeOptions): Promise<{ data: Uint8Array; width: number; height: number }> {
  // One libvips call, no resize in it: libvips would premultiply alpha, and its resampling differs from Pillow's.
  const decoded = await raw(input(bytes, options).removeAlpha().toColourspace('srgb'), bytes, options);
  if (decoded.channels !== 3) throw new CoalesceError('backend', `image decoding gave ${decoded.channels} channels, expected 3`);
  return decoded;
}

/** Decodes (sharp, or jpeg-wasm.ts for plain JPEGs) and resizes (Pillow's resampling) to 8-bit RGB, interleaved (HWC). */
export async function decodeToRgb(
  bytes: Uint8Array,
  config: ImageProcessorConfig,
  options: ImageDecodeOptions,
): Promise<{ rgb: Uint8Array; width: number; height: number; source: { width: number; height: number; format: string }; decodeMs: number; resizeMs: number }> {
  const started = performance.now();
  const format = await checkFormat(bytes);
  const decoded = (format === 'jpeg' && options.jpegDecoder === 'wasm' && (await wasmJpeg(bytes, options))) || (await sharpRgb(bytes, options));
  const decodedAt = performance.now();
  const target = config.resize ? resizedSize(config.resize, decoded.width, decoded.height) : { width: decoded.width, height: decoded.height };
  const rgb = resampleRgb(decoded.data, decoded.width, decoded.height, target.width, target.height, config.filter);
  return {
    rgb,
    width: target.width,
    height: target.height,
    source: { width: decoded.width, height: decoded.height, format },
    decodeMs: decodedAt - started,
    resizeMs: performance.now() - decodedAt,
  };
}

/**
 * Center crop (or zero-pad, as torchvision does when the crop is larger) of interleaved 8-bit RGB
 * to the model's height x width. Rescale and normalize run in the vision graph (model-prep's pixelNormalization).
 */
export function cropRgb(rgb: Uint8Array, width: number, height: number, config: ImageProcessorConfig): Uint8Array {
  const outH = config.height;
  const outW = config.width;
  if (outH === height && outW === width) return rgb;
  // torchvision: pad (crop - size) // 2 before, crop at int((size - crop) / 2) otherwise.
  const top = outH > height ? -Math.floor((outH - height) / 2) : Math.trunc((height - outH) / 2);
  const left = outW > width ? -Math.floor((outW - width) / 2) : Math.trunc((width - outW) / 2);
  const out = new Uint8Array(outH * outW * 3);
  // Per row, the columns inside the image: copied; the rest stays 0.
  const x0 = Math.max(0, -left);
  const x1 = Math.min(outW, width - left);
  for (let y = 0; y < outH; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= height || x1 <= x0) continue;
    out.set(rgb.subarray((sy * width + left + x0) * 3, (sy * width + left + x1) * 3), (y * outW + x0) * 3);
  }
  return out;
}

/** The whole pipeline for one encoded image. Bad images throw 422 errors that say what is wrong (and, given `where`, which input). */
export async function preprocessImage(bytes: Uint8Array, config: ImageProcessorConfig, options: ImageDecodeOptions, where?: string): Promise<PixelTensor> {
  const release = options.pixelBudget ? await acquirePixels(options.pixelBudget, await decodedPixels(bytes)) : null;
  try {
    const { rgb, width, height, source, decodeMs, resizeMs } = await decodeToRgb(bytes, config, options);
    const at = performance.now();
    // The pixels go to another thread (an image worker's reply, a vision session): a buffer of their own.
    const pixels = transferableBytes(cropRgb(rgb, width, height, config));
    return { pixels, sourceWidth: source.width, sourceHeight: source.height, format: source.format, decodeMs, resizeMs: resizeMs + performance.now() - at };
  } catch (e) {
    // `where` names the input: with several images, "the image is truncated" alone would not say which.
    if (where && e instanceof CoalesceError && e.kind === 'validation') throw new CoalesceError(e.kind, `${where}: ${e.message}`, 'inputs');
    throw e;
  } finally {
    release?.();
  }
}

/** What decoding `bytes` will hold, from the header (PNG and JPEG read directly, others through libvips' header read); 0 when unknown. */
async function decodedPixels(bytes: Uint8Array): Promise<number> {
  const known = headerPixels(bytes);
  if (known !== null) return known;
  const meta = await header(bytes);
  return (meta?.width ?? 0) * (meta?.height ?? 0);
}
