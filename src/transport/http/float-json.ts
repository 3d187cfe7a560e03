/**
 * float32 vectors as JSON number arrays, written byte by byte: nine significant digits (which
 * always read back as the same float32), trailing zeros dropped, no exponent in the usual range.
 * toPrecision(9) cost ~150 µs per 768-d vector, 2.5 cores of the one event loop at 20 k
 * single-text requests/s; this takes ~55 µs (measured side by side on the 2-core CI machine) and
 * writes a few percent fewer bytes.
 */

/** Exact powers of ten as doubles (10^0 .. 10^22 are exact). */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const NEG_POW10 = Array.from({ length: 40 }, (_, i) => 10 ** -i);
/** Outside [1e-13, 1e13) the plain writer would need too many zeros or exact powers it lacks. */
const SMALLEST_FAST = 1e-13;
const LARGEST_FAST = 1e13;
const LOG10_2 = 0.3010299956639812;

const ZERO = 0x30;
const MINUS = 0x2d;
const DOT = 0x2e;

const bits = new Float32Array(1);
const bitsU32 = new Uint32Array(bits.buffer);

/** Most bytes one number can take: '-0.' + 12 zeros + 9 digits, or an exponent form. */
export const MAX_FLOAT_BYTES = 26;

/** Writes the float32 `x` at `at` in `out` (with MAX_FLOAT_BYTES of room) and returns the new end. */
export function writeFloat32(out: Uint8Array, at: number, x: number): number {
  // JSON has no NaN/Infinity; a finite model never produces them, a broken one must not break the response.
  if (x === 0 || !Number.isFinite(x)) {
    out[at] = ZERO;
    return at + 1;
  }
  let ax = x;
  if (x < 0) {
    out[at++] = MINUS;
    ax = -x;
  }
  if (ax < SMALLEST_FAST || ax >= LARGEST_FAST) return writeAscii(out, at, ax.toPrecision(9));
  // The decimal exponent of the leading digit, from the binary exponent: floor(e2 log10 2) or one more.
  bits[0] = ax;
  let e = Math.floor(((bitsU32[0] >>> 23) - 127) * LOG10_2);
  if ((e >= 0 ? POW10[e + 1] : NEG_POW10[-e - 1]) <= ax) e++;
  // ax ~ m * 10^-k with m of nine digits; ax and 10^k are exact, so m is correctly rounded up to the double product.
  let k = 8 - e;
  let m = k >= 0 ? Math.round(ax * POW10[k]) : Math.round(ax / POW10[-k]);
  if (m >= 1e9) {
    m = Math.round(m / 10);
    k--;
  }
  m |= 0;
  let n = 9;
  while (k > 0 && n > 1) {
    const q = (m / 10) | 0;
    if (m - q * 10 !== 0) break;
    m = q;
    n--;
    k--;
  }
  // Now ax ~ m * 10^-k with m of n digits.
  if (k <= 0) {
    at = writeDigits(out, at, m, n);
    for (let i = 0; i < -k; i++) out[at++] = ZERO;
    return at;
  }
  const intDigits = n - k;
  if (intDigits <= 0) {
    out[at++] = ZERO;
    out[at++] = DOT;
    for (let i = intDigits; i < 0; i++) out[at++] = ZERO;
    return writeDigits(out, at, m, n);
  }
  // Right to left; digits after the point sit one byte further on.
  for (let i = n - 1; i >= 0; i--) {
    const q = (m / 10) | 0;
    out[i >= intDigits ? at + i + 1 : at + i] = ZERO + (m - q * 10);
    m = q;
  }
  out[at + intDigits] = DOT;
  return at + n + 1;
}

function writeDigits(out: Uint8Array, at: number, m: number, n: number): number {
  for (let i = at + n - 1; i >= at; i--) {
    const q = (m / 10) | 0;
    out[i] = ZERO + (m - q * 10);
    m = q;
  }
  return at + n;
}

function writeAscii(out: Uint8Array, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
  return at;
}

function writeVector(out: Uint8Array, at: number, v: Float32Array): number {
  out[at++] = 0x5b; // [
  for (let i = 0; i < v.length; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    at = writeFloat32(out, at, v[i]);
  }
  out[at++] = 0x5d; // ]
  return at;
}

/** `[[...],[...]]` for the vectors, as bytes ready to send. */
export function vectorsToJsonBytes(vectors: readonly Float32Array[]): Uint8Array<ArrayBuffer> {
  let capacity = 2;
  for (const v of vectors) capacity += 3 + v.length * (MAX_FLOAT_BYTES + 1);
  const out = Buffer.allocUnsafe(capacity);
  let at = 0;
  out[at++] = 0x5b;
  for (let j = 0; j < vectors.length; j++) {
    if (j > 0) out[at++] = 0x2c;
    at = writeVector(out, at, vectors[j]);
  }
  out[at++] = 0x5d;
  return new Uint8Array(out.buffer as ArrayBuffer, out.byteOffset, at);
}

/** One vector as a JSON array string. */
export function vectorToJsonString(v: Float32Array): string {
  const out = Buffer.allocUnsafe(2 + v.length * (MAX_FLOAT_BYTES + 1));
  return out.toString('latin1', 0, writeVector(out, 0, v));
}
