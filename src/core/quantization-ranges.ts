/**
 * Where int8/uint8 ranges come from: a calibration set embedded once at start (the default), or
 * a file of ranges (--quantization-ranges), or the request itself. Calibration keeps the model's
 * raw vectors, so a request's ranges come from the calibration vectors shaped exactly as the
 * request's own (Matryoshka cut, then normalized or not): slicing full-width ranges would not fit
 * vectors normalized again after the cut.
 */
import { validation } from '../errors.js';
import { finalizeVector } from './postprocess.js';
import { rangesOf, sliceRanges, type Ranges } from './quantize.js';

/** What /info shows about the ranges. */
export interface RangesSummary {
  source: 'calibration' | 'file';
  /** Calibration texts embedded (source calibration). */
  texts?: number;
  /** The ranges file (source file). */
  file?: string;
  dimensions: number;
  /** Per-dimension (max - min) of the full-width, normalized ranges: the smallest, mean and largest. */
  width: { min: number; mean: number; max: number };
}

/** Plain data, so it crosses to HTTP threads by structured clone. */
export type RangesData =
  | { kind: 'calibration'; vectors: Float32Array[]; texts: number }
  | { kind: 'file'; ranges: { min: Float32Array; max: Float32Array }; file: string };

/** A request's own ranges, as given (JSON numbers). */
export interface GivenRanges {
  min: readonly number[];
  max: readonly number[];
}

export interface RangesRequest {
  /** Width of the vectors to quantize (after a Matryoshka cut). */
  width: number;
  /** The model's full width. */
  modelDimensions: number;
  normalize: boolean;
  given?: GivenRanges;
  /** How the request names its ranges field in errors. */
  field?: string;
}

export class QuantizationRanges {
  private readonly cache = new Map<string, Ranges>();

  constructor(readonly data: RangesData) {
    if (data.kind === 'calibration' && data.vectors.length === 0) throw new Error('calibration needs at least one vector');
  }

  /** Ranges from the raw (un-normalized, full-width) vectors of a calibration set. */
  static calibrated(vectors: Float32Array[]): QuantizationRanges {
    return new QuantizationRanges({ kind: 'calibration', vectors, texts: vectors.length });
  }

  /** The ranges of a file such as --quantization-ranges names: `{"min": [...], "max": [...]}`, full width. */
  static fromFile(json: unknown, file: string, modelDimensions: number): QuantizationRanges {
    const r = json as Partial<GivenRanges> | null;
    const problem = rangesProblem(r, modelDimensions);
    if (problem) throw new Error(`--quantization-ranges ${file}: ${problem}`);
    return new QuantizationRanges({ kind: 'file', ranges: { min: Float32Array.from(r!.min!), max: Float32Array.from(r!.max!) }, file });
  }

  /** Ranges for vectors of `width` dimensions, normalized after the cut or not. */
  rangesFor(width: number, normalize: boolean): Ranges {
    if (this.data.kind === 'file') return sliceRanges(this.data.ranges, width);
    const key = `${width}:${normalize}`;
    let ranges = this.cache.get(key);
    if (!ranges) {
      ranges = rangesOf(this.data.vectors.map((v) => finalizeVector(v, { dimensions: width, normalize })));
      this.cache.set(key, ranges);
    }
    return ranges;
  }

  summary(): RangesSummary {
    const dimensions = this.data.kind === 'file' ? this.data.ranges.min.length : this.data.vectors[0].length;
    const full = this.rangesFor(dimensions, true);
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    let sum = 0;
    for (let i = 0; i < dimensions; i++) {
      const w = full.max[i] - full.min[i];
      lo = Math.min(lo, w);
      hi = Math.max(hi, w);
      sum += w;
    }
    const width = { min: round(lo), mean: round(sum / dimensions), max: round(hi) };
    return this.data.kind === 'file'
      ? { source: 'file', file: this.data.file, dimensions, width }
      : { source: 'calibration', texts: this.data.texts, dimensions, width };
  }
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * The ranges a request quantizes with: its own when given (as wide as its vectors, or as the
 * model, then cut), else the server's. Errors name the request's field.
 */
export function rangesForRequest(server: QuantizationRanges | null | undefined, request: RangesRequest): Ranges {
  const field = request.field ?? 'ranges';
  if (request.given) {
    const { min, max } = request.given;
    const widths = request.width === request.modelDimensions ? `${request.width}` : `${request.width} or ${request.modelDimensions}`;
    if (min.length !== max.length || (min.length !== request.width && min.length !== request.modelDimensions)) {
      throw validation(`\`${field}\` must have \`min\` and \`max\` of ${widths} values each (given ${min.length} and ${max.length})`, field);
    }
    const problem = rangesProblem(request.given, min.length);
    if (problem) throw validation(`\`${field}\` ${problem}`, field);
    return sliceRanges({ min: Float32Array.from(min), max: Float32Array.from(max) }, request.width);
  }
  if (!server) {
    throw validation(
      `int8 and uint8 need ranges: this server has none (started with no calibration), so pass \`${field}\` ({"min": [...], "max": [...]})`,
      field,
    );
  }
  return server.rangesFor(request.width, request.normalize);
}

/** Why `r` is not a valid ranges object of `width` dimensions; null when it is. */
function rangesProblem(r: Partial<GivenRanges> | null, width: number): string | null {
  if (r === null || typeof r !== 'object' || !Array.isArray(r.min) || !Array.isArray(r.max)) return 'must be an object {"min": [...], "max": [...]}';
  if (r.min.length !== width || r.max.length !== width)
    return `must have ${width} values in \`min\` and in \`max\` (given ${r.min.length} and ${r.max.length})`;
  for (let i = 0; i < width; i++) {
    const lo = r.min[i];
    const hi = r.max[i];
    if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isFinite(lo) || !Number.isFinite(hi))
      return `has a value that is not a finite number at index ${i}`;
    if (lo > hi) return `has min ${lo} above max ${hi} at index ${i}`;
  }
  return null;
}
