/** preprocessor_config.json, read as transformers' CLIP / SigLIP image processors would, and the on-device normalization it implies. */
import type { ImageProcessorConfig, ResizeTarget } from '../preprocess/image.js';
import type { ResampleFilter } from '../preprocess/resample.js';
import type { PixelNormalization } from '../onnx-graph/pixel-input.js';

/** PIL resampling codes (preprocessor_config.json "resample"). */
const PIL_FILTERS: Record<number, ResampleFilter> = { 0: 'nearest', 1: 'lanczos3', 2: 'linear', 3: 'cubic', 4: 'box', 5: 'hamming' };

export class PreprocessorConfigError extends Error {
  override name = 'PreprocessorConfigError';
}

function size2d(v: unknown, what: string): { height: number; width: number } {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return { height: v, width: v };
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if (Number.isInteger(o.height) && Number.isInteger(o.width) && (o.height as number) > 0 && (o.width as number) > 0) {
      return { height: o.height as number, width: o.width as number };
    }
  }
  throw new PreprocessorConfigError(`${what} ${JSON.stringify(v)} is not {height, width} or a positive integer`);
}

function triple(v: unknown, fallback: readonly number[], what: string): readonly number[] {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number') return [v, v, v];
  if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
  throw new PreprocessorConfigError(`${what} ${JSON.stringify(v)} is not a list of 3 numbers`);
}

/** transformers' defaults by processor family, for keys a preprocessor_config.json leaves out. */
const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** Reads preprocessor_config.json as transformers' CLIP / SigLIP image processors would. */
export function parsePreprocessorConfig(json: Record<string, unknown>): ImageProcessorConfig {
  const type = String(json.image_processor_type ?? json.feature_extractor_type ?? '');
  if (json.max_num_patches !== undefined) {
    throw new PreprocessorConfigError(
      `${type || 'this processor'} resizes to a variable number of patches (NaFlex): only fixed-resolution checkpoints are supported`,
    );
  }
  const clipLike = /clip/i.test(type);
  const doResize = json.do_resize !== false;
  const doCrop = json.do_center_crop === true || (json.do_center_crop === undefined && clipLike && json.crop_size !== undefined);

  let resize: ResizeTarget | null = null;
  if (doResize) {
    const s = json.size;
    if (typeof s === 'number' && Number.isInteger(s) && s > 0) {
      // An int size means the shortest edge for processors that crop (CLIP), a square otherwise.
      resize = doCrop ? { kind: 'shortest_edge', shortestEdge: s, longestEdge: null } : { kind: 'exact', height: s, width: s };
    } else if (typeof s === 'object' && s !== null && Number.isInteger((s as Record<string, unknown>).shortest_edge)) {
      const o = s as Record<string, unknown>;
      resize = {
        kind: 'shortest_edge',
        shortestEdge: o.shortest_edge as number,
        longestEdge: Number.isInteger(o.longest_edge) ? (o.longest_edge as number) : null,
      };
    } else if (s !== undefined) {
      const hw = size2d(s, 'size');
      resize = { kind: 'exact', ...hw };
    } else {
      throw new PreprocessorConfigError('do_resize is set but there is no "size"');
    }
  }
  const crop = doCrop ? size2d(json.crop_size ?? json.size, 'crop_size') : null;
  const resample = json.resample === undefined ? 3 : Number(json.resample);
  const filter = PIL_FILTERS[resample];
  if (!filter) throw new PreprocessorConfigError(`resample ${JSON.stringify(json.resample)} is not a PIL resampling code (0-5)`);

  const out = crop ?? (resize?.kind === 'exact' ? { height: resize.height, width: resize.width } : null);
  if (!out) throw new PreprocessorConfigError('neither a fixed resize nor a center crop gives every image the same size');
  const rescaleFactor = json.do_rescale === false ? null : typeof json.rescale_factor === 'number' ? json.rescale_factor : 1 / 255;
  const normalize =
    json.do_normalize === false
      ? null
      : {
          mean: triple(json.image_mean, clipLike ? OPENAI_CLIP_MEAN : [0.5, 0.5, 0.5], 'image_mean'),
          std: triple(json.image_std, clipLike ? OPENAI_CLIP_STD : [0.5, 0.5, 0.5], 'image_std'),
        };
  if (normalize?.std.some((x) => x === 0)) throw new PreprocessorConfigError('image_std has a zero');
  return { resize, filter, crop, rescaleFactor, normalize, height: out.height, width: out.width };
}

/** pixel_values = pixel * scale + shift per channel: do_rescale / rescale_factor, then do_normalize. */
export function pixelNormalization(config: ImageProcessorConfig): PixelNormalization {
  const r = config.rescaleFactor ?? 1;
  const n = config.normalize;
  return {
    scale: [0, 1, 2].map((c) => (n ? r / n.std[c] : r)),
    shift: [0, 1, 2].map((c) => (n ? -n.mean[c] / n.std[c] : 0)),
    height: config.height,
    width: config.width,
  };
}
