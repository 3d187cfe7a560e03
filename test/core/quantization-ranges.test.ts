import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrate } from '../../src/core/calibration.js';
import { CALIBRATION_TEXTS } from '../../src/core/calibration-texts.js';
import type { EmbedRequest, EmbedResponse } from '../../src/core/embedder.js';
import { QuantizationRanges, rangesForRequest } from '../../src/core/quantization-ranges.js';
import { isCoalesceError } from '../../src/errors.js';

const RAW = [Float32Array.from([3, 4, 0, 0]), Float32Array.from([0, 1, 1, 0]), Float32Array.from([-2, 0, 0, 2])];

test('calibrated ranges are the per-dimension min and max of the raw vectors shaped as the request: cut, then normalized or not', () => {
  const q = QuantizationRanges.calibrated(RAW);
  const full = q.rangesFor(4, false);
  assert.deepEqual([...full.min], [-2, 0, 0, 0]);
  assert.deepEqual([...full.max], [3, 4, 1, 2]);
  // Normalized full vectors: [0.6, 0.8, 0, 0], [0, 1/sqrt2, 1/sqrt2, 0], [-1/sqrt2, 0, 0, 1/sqrt2].
  const s = Math.SQRT1_2;
  const normalized = q.rangesFor(4, true);
  assert.deepEqual([...normalized.min], [-s, 0, 0, 0].map(Math.fround));
  assert.deepEqual([...normalized.max], [0.6, 0.8, s, s].map(Math.fround));
  // Cut to 2 dimensions then normalized: [0.6, 0.8], [0, 1], [-1, 0]: not the full ranges sliced.
  const cut = q.rangesFor(2, true);
  assert.deepEqual([...cut.min], [-1, 0]);
  assert.deepEqual([...cut.max], [0.6, 1].map(Math.fround));
  assert.notDeepEqual([...cut.min], [...normalized.min.subarray(0, 2)]);
  // Asked twice: the same ranges (cached), not recomputed into another object.
  assert.equal(q.rangesFor(2, true), cut);
  const summary = q.summary();
  assert.equal(summary.source, 'calibration');
  assert.equal(summary.texts, 3);
  assert.equal(summary.dimensions, 4);
  assert.ok(summary.width.min <= summary.width.mean && summary.width.mean <= summary.width.max);
});

test('ranges from a file: full width, checked, cut for narrower requests', () => {
  const q = QuantizationRanges.fromFile({ min: [-1, -2, -3], max: [1, 2, 3] }, 'r.json', 3);
  assert.deepEqual([...q.rangesFor(2, true).max], [1, 2]);
  assert.equal(q.summary().source, 'file');
  assert.throws(() => QuantizationRanges.fromFile({ min: [0, 0], max: [1, 1] }, 'r.json', 3), /r\.json.*3 values/);
  assert.throws(() => QuantizationRanges.fromFile({ min: [0, 2, 0], max: [1, 1, 1] }, 'r.json', 3), /min 2 above max 1 at index 1/);
  assert.throws(() => QuantizationRanges.fromFile({ min: [0, 'a', 0], max: [1, 1, 1] }, 'r.json', 3), /not a finite number at index 1/);
  assert.throws(() => QuantizationRanges.fromFile([1, 2], 'r.json', 3), /must be an object/);
});

test("a request's own ranges win; they may be as wide as its vectors or as the model (then cut)", () => {
  const server = QuantizationRanges.calibrated(RAW);
  const own = rangesForRequest(server, { width: 2, modelDimensions: 4, normalize: true, given: { min: [-5, -6], max: [5, 6] } });
  assert.deepEqual([...own.min], [-5, -6]);
  const cut = rangesForRequest(server, { width: 2, modelDimensions: 4, normalize: true, given: { min: [-5, -6, -7, -8], max: [5, 6, 7, 8] } });
  assert.deepEqual([...cut.max], [5, 6]);
  const fallback = rangesForRequest(server, { width: 2, modelDimensions: 4, normalize: true });
  assert.equal(fallback, server.rangesFor(2, true));
});

test('bad request ranges and a server without ranges are validation errors naming the field', () => {
  const cases: [Parameters<typeof rangesForRequest>[0], Parameters<typeof rangesForRequest>[1], RegExp][] = [
    [null, { width: 4, modelDimensions: 4, normalize: true }, /this server has none/],
    [null, { width: 2, modelDimensions: 4, normalize: true, given: { min: [0, 0, 0], max: [1, 1, 1] } }, /2 or 4 values each \(given 3 and 3\)/],
    [null, { width: 2, modelDimensions: 4, normalize: true, given: { min: [0, 0], max: [1] } }, /given 2 and 1/],
    [null, { width: 2, modelDimensions: 4, normalize: true, given: { min: [0, 3], max: [1, 1] } }, /min 3 above max 1 at index 1/],
  ];
  for (const [server, request, message] of cases) {
    assert.throws(
      () => rangesForRequest(server, { ...request, field: 'ranges' }),
      (e: unknown) => isCoalesceError(e) && e.kind === 'validation' && e.param === 'ranges' && message.test(e.message),
      String(message),
    );
  }
});

test('calibrate embeds every built-in text once, raw (not normalized), in chunks within the client batch limit', async () => {
  const requests: EmbedRequest[] = [];
  // A fake model: each text's vector is its length and its count of spaces, viewing one shared buffer.
  const shared = new Float32Array(2 * 64);
  const embed = async (request: EmbedRequest): Promise<EmbedResponse> => {
    requests.push(request);
    const vectors = request.inputs.map((t, i) => {
      const v = shared.subarray(2 * i, 2 * i + 2);
      v.set([t.length, t.split(' ').length - 1]);
      return v;
    });
    return { vectors, promptTokens: 0, timings: { tokenizationMs: 0, queueMs: 0, inferenceMs: 0, totalMs: 0 } };
  };
  const q = await calibrate(embed, 50);
  assert.ok(requests.every((r) => r.inputs.length <= 50 && r.normalize === false && r.truncate === true));
  assert.deepEqual(
    requests.flatMap((r) => r.inputs),
    [...CALIBRATION_TEXTS],
  );
  const lengths = CALIBRATION_TEXTS.map((t) => t.length);
  const raw = q.rangesFor(2, false);
  assert.equal(raw.min[0], Math.min(...lengths));
  assert.equal(raw.max[0], Math.max(...lengths));
  assert.ok(CALIBRATION_TEXTS.length >= 150, 'a calibration set of a useful size');
});
