/**
 * Pillow's resampling (Resample.c), reimplemented for interleaved 8-bit RGB: the same filters,
 * the same coefficient rounding (22-bit fixed point) and the same two passes (horizontal, then
 * vertical, rounding to 8 bits in between). transformers' PIL backend resizes with exactly this,
 * and its torchvision backend follows it to within a level; libvips' resize does not (it box-shrinks
 * by large factors first and aligns upsampling differently, which moved vectors measurably).
 */
export type ResampleFilter = 'nearest' | 'box' | 'linear' | 'hamming' | 'cubic' | 'lanczos3';

const PRECISION_BITS = 32 - 8 - 2;

interface Filter {
  support: number;
  weight(x: number): number;
}

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, Filter> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  linear: { support: 1, weight: (x) => ((x = Math.abs(x)) < 1 ? 1 - x : 0) },
  hamming: {
    support: 1,
    weight: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      return (Math.sin(Math.PI * x) / (Math.PI * x)) * (0.54 + 0.46 * Math.cos(Math.PI * x));
    },
  },
  cubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos3: { support: 3, weight: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

interface Coefficients {
  ksize: number;
  /** Per output pixel: first input index and number of taps. */
  bounds: Int32Array;
  /** outSize x ksize fixed-point weights. */
  weights: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc. */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

function clip8(v: number): number {
  if (v >= (1 << PRECISION_BITS) << 8) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/** Horizontal pass over rows [rowStart, rowStart + rows). */
function horizontal(src: Uint8Array, width: number, rowStart: number, rows: number, outWidth: number, c: Coefficients): Uint8Array {
  const out = new Uint8Array(outWidth * rows * 3);
  const { ksize, bounds, weights } = c;
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < rows; y++) {
    const rowIn = (y + rowStart) * width * 3;
    const rowOut = y * outWidth * 3;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2];
      const n = bounds[xx * 2 + 1];
      const kOff = xx * ksize;
      let s0 = half;
      let s1 = half;
      let s2 = half;
      let p = rowIn + xmin * 3;
      // Int32 arithmetic throughout (Math.imul, | 0): sums stay below 2^31 as in Pillow's C.
      for (let x = 0; x < n; x++, p += 3) {
        const w = weights[kOff + x];
        s0 = (s0 + Math.imul(src[p], w)) | 0;
        s1 = (s1 + Math.imul(src[p + 1], w)) | 0;
        s2 = (s2 + Math.imul(src[p + 2], w)) | 0;
      }
      const o = rowOut + xx * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

function vertical(src: Uint8Array, width: number, rowOffset: number, outHeight: number, c: Coefficients): Uint8Array {
  const stride = width * 3;
  const out = new Uint8Array(stride * outHeight);
  const { ksize, bounds, weights } = c;
  const half = 1 << (PRECISION_BITS - 1);
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2] - rowOffset;
    const n = bounds[yy * 2 + 1];
    const kOff = yy * ksize;
    acc.fill(half);
    // Row by row: sequential reads, the same sums as Pillow's column loop.
    for (let y = 0; y < n; y++) {
      const w = weights[kOff + y];
      let p = (ymin + y) * stride;
      for (let i = 0; i < stride; i++, p++) acc[i] = (acc[i] + Math.imul(src[p], w)) | 0;
    }
    const rowOut = yy * stride;
    for (let i = 0; i < stride; i++) out[rowOut + i] = clip8(acc[i]);
  }
  return out;
}

function nearest(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  const out = new Uint8Array(outWidth * outHeight * 3);
  const sx = width / outWidth;
  const sy = height / outHeight;
  for (let y = 0; y < outHeight; y++) {
    const yi = Math.min(height - 1, Math.floor((y + 0.5) * sy));
    for (let x = 0; x < outWidth; x++) {
      const xi = Math.min(width - 1, Math.floor((x + 0.5) * sx));
      const i = (yi * width + xi) * 3;
      const o = (y * outWidth + x) * 3;
      out[o] = src[i];
      out[o + 1] = src[i + 1];
      out[o + 2] = src[i + 2];
    }
  }
  return out;
}

/** Resizes interleaved 8-bit RGB as Pillow's Image.resize(size, filter) does (no reducing_gap). */
export function resampleRgb(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, filter: ResampleFilter): Uint8Array {
  if (src.length !== width * height * 3) throw new RangeError(`expected ${width * height * 3} bytes of RGB, got ${src.length}`);
  if (outWidth === width && outHeight === height) return src;
  if (filter === 'nearest') return nearest(src, width, height, outWidth, outHeight);
  const f = FILTERS[filter];
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  const cv = coefficients(height, outHeight, f);
  let img = src;
  let rowOffset = 0;
  if (needH) {
    // Only the rows the vertical pass will read, as Pillow does.
    const first = needV ? cv.bounds[0] : 0;
    const last = needV ? cv.bounds[outHeight * 2 - 2] + cv.bounds[outHeight * 2 - 1] : height;
    img = horizontal(src, width, first, last - first, outWidth, coefficients(width, outWidth, f));
    rowOffset = first;
  }
  if (needV) img = vertical(img, outWidth, rowOffset, outHeight, cv);
  return img;
}
