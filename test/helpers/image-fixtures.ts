/** The tiny SigLIP / CLIP fixtures and their transformers references (scripts/device/make_image_fixtures.py). */
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import * as zlib from 'node:zlib';

export const IMAGE_DIR = 'test/fixtures/images';
export const TINY_SIGLIP = 'test/fixtures/tiny-siglip';
export const TINY_CLIP = 'test/fixtures/tiny-clip';

export interface ImageReference {
  model: { family: string; logit_scale_exp: number; logit_bias: number };
  sentences: string[];
  input_ids: number[][];
  labels: string[];
  images: { file: string; what: string; loaded_size: [number, number] }[];
  text_embeds: number[][];
  /** Per processor backend (torchvision, the default; pil). */
  image_embeds: Record<string, number[][]>;
  /** uint8 [3, H, W] after resize and crop, before rescale / normalize, base64. */
  pixels: Record<string, string[]>;
  pixel_shape: [number, number, number];
  logits_per_image: Record<string, number[][]>;
  default_backend: string;
  sensitivity: Record<string, number>;
  variants?: Record<string, { min_cosine_vs_fp32_torch: number; input_type: string }>;
}

/** [H, W, 3] -> [3, H, W], as the reference stores pixels. */
export function planes(hwc: Uint8Array, h: number, w: number): Uint8Array {
  const out = new Uint8Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let p = 0; p < h * w; p++) out[c * h * w + p] = hwc[p * 3 + c];
  return out;
}

export function reference(dir: string): ImageReference {
  return JSON.parse(readFileSync(`${dir}/reference.json`, 'utf8')) as ImageReference;
}

export function imageBytes(file: string): Buffer {
  return readFileSync(`${IMAGE_DIR}/${file}`);
}

export function preprocessorJson(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${dir}/preprocessor_config.json`, 'utf8')) as Record<string, unknown>;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((zlib as unknown as { crc32(b: Buffer): number }).crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose header claims width x height (RGB, 8-bit) but holds only a few bytes of pixels: a decompression bomb's header. */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
