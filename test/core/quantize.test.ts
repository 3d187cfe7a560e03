/**
 * Quantization against values worked out by hand here, and properties that hold for any vector
 * and ranges. The hand-worked values follow numpy's float32 arithmetic and its casts (cut toward
 * zero), as sentence-transformers' quantize_embeddings does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeVector, packBinary, packUbinary, quantizeInt8, quantizeUint8, rangesOf, rowBytes, sliceRanges, type Ranges } from '../../src/core/quantize.js';

const RANGES: Ranges = { min: Float32Array.from([-1, 0, -0.5, 0]), max: Float32Array.from([1, 1, 0.5, 0]) };

test('uint8 and int8 of a hand-worked vector: cut toward zero after subtracting 128, clamped outside the range', () => {
  const v = Float32Array.from([0.3, 0.1, -0.6, 0]);
  // dim 0: (0.3 + 1) / (2 / 255) = 165.75 -> 165; minus 128: 37.75 -> 37
  // dim 1: 0.1 / (1 / 255) = 25.5 -> 25; minus 128: -102.5 -> -102 (not 25 - 128)
  // dim 2: below its min: 0; (-0.1 * 255) - 128 = -153.5 -> clamped to -128
  // dim 3: min == max, at that value: the lowest code
  assert.deepEqual([...quantizeUint8(v, RANGES)], [165, 25, 0, 0]);
  assert.deepEqual([...quantizeInt8(v, RANGES)], [37, -102, -128, -128]);
});

test('values past the max clamp to the top code', () => {
  const v = Float32Array.from([3, 2, 0.9, 0]);
  assert.deepEqual([...quantizeUint8(v, RANGES)], [255, 255, 255, 0]);
  assert.deepEqual([...quantizeInt8(v, RANGES)], [127, 127, 127, -128]);
  // A dimension of no width is a step: below or at it the lowest code, above it the top one.
  const step = Float32Array.from([0, 0, 0, 0.25]);
  assert.deepEqual([...quantizeUint8(step, RANGES)].slice(3), [255]);
  assert.deepEqual([...quantizeInt8(step, RANGES)].slice(3), [127]);
  const below = Float32Array.from([0, 0, 0, -0.25]);
  assert.deepEqual([...quantizeUint8(below, RANGES)].slice(3), [0]);
  assert.deepEqual([...quantizeInt8(below, RANGES)].slice(3), [-128]);
});

test('ubinary and binary of a hand-worked 11-dimension vector: sign bits, first dimension in the high bit, last byte padded', () => {
  const v = Float32Array.from([0.5, -0.1, 0, 2, 1e-9, -3, 0.7, 0.01, 0.2, -0.2, 0.3]);
  // bits 1 0 0 1 1 0 1 1 = 0x9b = 155; then 1 0 1 and five 0s of padding = 0xa0 = 160 (0 is not > 0)
  assert.deepEqual([...packUbinary(v)], [155, 160]);
  assert.deepEqual([...packBinary(v)], [27, 32]);
});

test('ranges of a few vectors are their per-dimension min and max; slicing keeps the first dimensions', () => {
  const r = rangesOf([Float32Array.from([1, -2, 3]), Float32Array.from([0, 5, 3]), Float32Array.from([-1, 0, 4])]);
  assert.deepEqual([...r.min], [-1, -2, 3]);
  assert.deepEqual([...r.max], [1, 5, 4]);
  const cut = sliceRanges(r, 2);
  assert.deepEqual([...cut.min], [-1, -2]);
  assert.deepEqual([...cut.max], [1, 5]);
  assert.throws(() => rangesOf([]));
  assert.throws(() => rangesOf([new Float32Array(2), new Float32Array(3)]));
});

test('encodeVector dispatches by encoding; int8 and uint8 refuse missing or mismatched ranges', () => {
  const v = Float32Array.from([0.3, 0.1, -0.6, 0]);
  assert.equal(encodeVector(v, 'float'), v);
  assert.equal(encodeVector(v, 'base64'), v);
  assert.ok(encodeVector(v, 'int8', RANGES) instanceof Int8Array);
  assert.ok(encodeVector(v, 'uint8', RANGES) instanceof Uint8Array);
  assert.ok(encodeVector(v, 'binary') instanceof Int8Array);
  assert.throws(() => encodeVector(v, 'int8'));
  assert.throws(() => quantizeUint8(new Float32Array(3), RANGES));
  assert.deepEqual(
    (['float', 'base64', 'int8', 'uint8', 'binary', 'ubinary'] as const).map((e) => rowBytes(e, 12)),
    [48, 48, 12, 12, 2, 2],
  );
});

/** Values in [-10, 10] in steps of 1/1024: no widths so small that float32's step underflows to 0. */
const floats = (n: number) =>
  fc.array(
    fc.integer({ min: -10240, max: 10240 }).map((x) => x / 1024),
    { minLength: n, maxLength: n },
  );
const vectorAndRanges = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.tuple(floats(n), floats(n), floats(n)).map(([v, a, b]) => ({
    v: Float32Array.from(v),
    ranges: { min: Float32Array.from(a.map((x, i) => Math.min(x, b[i]))), max: Float32Array.from(a.map((x, i) => Math.max(x, b[i]))) },
  })),
);

test('property: ubinary bits are exactly the signs (x > 0), padding bits are 0, binary is ubinary - 128', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 70 }).chain(floats), (values) => {
      const v = Float32Array.from(values);
      const u = packUbinary(v);
      const b = packBinary(v);
      assert.equal(u.length, Math.ceil(v.length / 8));
      for (let i = 0; i < u.length * 8; i++) {
        const bit = (u[Math.floor(i / 8)] >> (7 - (i % 8))) & 1;
        assert.equal(bit, i < v.length && v[i] > 0 ? 1 : 0, `bit ${i}`);
      }
      for (let i = 0; i < u.length; i++) assert.equal(b[i], u[i] - 128);
    }),
  );
});

test('property: uint8 is within one code of floor((x - min) / step) in exact arithmetic, clamped to 0..255', () => {
  fc.assert(
    fc.property(vectorAndRanges, ({ v, ranges }) => {
      const q = quantizeUint8(v, ranges);
      for (let i = 0; i < v.length; i++) {
        const width = ranges.max[i] - ranges.min[i];
        if (width === 0) {
          assert.equal(q[i], v[i] > ranges.max[i] ? 255 : 0);
          continue;
        }
        const exact = Math.min(255, Math.max(0, Math.floor(((v[i] - ranges.min[i]) / width) * 255)));
        assert.ok(Math.abs(q[i] - exact) <= 1, `dim ${i}: ${q[i]} vs ${exact}`);
      }
    }),
  );
});

test('property: int8 is uint8 - 128, or one more where the scaled value is below 128 and not whole', () => {
  fc.assert(
    fc.property(vectorAndRanges, ({ v, ranges }) => {
      const u = quantizeUint8(v, ranges);
      const s = quantizeInt8(v, ranges);
      for (let i = 0; i < v.length; i++) {
        const d = s[i] - (u[i] - 128);
        assert.ok(d === 0 || d === 1, `dim ${i}: int8 ${s[i]}, uint8 ${u[i]}`);
        if (u[i] >= 128) assert.equal(d, 0, `dim ${i}`);
      }
    }),
  );
});

test('property: quantization keeps order within a dimension', () => {
  fc.assert(
    fc.property(vectorAndRanges, floats(1), ({ v, ranges }, [shift]) => {
      const w = v.map((x) => x + Math.abs(shift));
      const [qv, qw] = [quantizeUint8(v, ranges), quantizeUint8(w, ranges)];
      const [sv, sw] = [quantizeInt8(v, ranges), quantizeInt8(w, ranges)];
      for (let i = 0; i < v.length; i++) {
        assert.ok(qv[i] <= qw[i], `uint8 dim ${i}`);
        assert.ok(sv[i] <= sw[i], `int8 dim ${i}`);
      }
    }),
  );
});

test('property: calibration vectors themselves quantize with min -> lowest code and max -> the top codes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }).chain((n) => fc.array(floats(n), { minLength: 2, maxLength: 10 })),
      (rows) => {
        const vectors = rows.map((r) => Float32Array.from(r));
        const ranges = rangesOf(vectors);
        for (let i = 0; i < ranges.min.length; i++) {
          for (const v of vectors) assert.ok(v[i] >= ranges.min[i] && v[i] <= ranges.max[i]);
          if (ranges.max[i] === ranges.min[i]) continue;
          const lo = Float32Array.from(ranges.min);
          const hi = Float32Array.from(ranges.max);
          assert.equal(quantizeUint8(lo, ranges)[i], 0);
          assert.ok(quantizeUint8(hi, ranges)[i] >= 254);
          assert.equal(quantizeInt8(lo, ranges)[i], -128);
        }
      },
    ),
  );
});
