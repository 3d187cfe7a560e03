import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vectorsToJsonBytes, vectorToJsonString } from '../../../src/transport/http/float-json.js';

/** Deterministic float32 samples over every range a model can produce (seeded LCG). */
function samples(count: number, seed = 7): Float32Array {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) {
    if (i % 3 === 0) {
      bits[i] = next();
      if (!Number.isFinite(out[i])) out[i] = 0.25; // NaN/Infinity patterns: tested separately
    } else if (i % 3 === 1)
      out[i] = (next() / 2 ** 32 - 0.5) * 0.2; // normalized embedding components
    else out[i] = (next() / 2 ** 32 - 0.5) * 10 ** ((next() % 30) - 15);
  }
  return out;
}

test('every float32 reads back exactly (JSON.parse, then float32)', () => {
  const edge = [0, 1, -1, 10, 100, 0.1, 0.5, 1e-13, 9.99e-14, 1e13, 9.999999e12, 123456789, 3.4028234663852886e38, 1.401298464324817e-45, 1e-7, -2.5e-8, 65504];
  const v = new Float32Array([...edge, ...samples(200_000)]);
  const back = JSON.parse(vectorToJsonString(v)) as number[];
  assert.equal(back.length, v.length);
  for (let i = 0; i < v.length; i++) {
    if (Math.fround(back[i]) !== v[i]) assert.fail(`index ${i}: ${v[i]} came back as ${back[i]}`);
  }
});

test('numbers are plain decimals without needless zeros in the usual range', () => {
  assert.equal(vectorToJsonString(new Float32Array([0.5, -0.25, 1, 100, 0.03125, 12.5])), '[0.5,-0.25,1,100,0.03125,12.5]');
  // nine significant digits at most
  const s = vectorToJsonString(new Float32Array([0.1, -0.0123456789]));
  assert.equal(s, '[0.100000001,-0.0123456791]');
  assert.ok(!/e/i.test(vectorToJsonString(samples(3000).map((x) => (Math.abs(x) < 1e-12 || Math.abs(x) > 1e12 ? 0.5 : x)))));
});

test('NaN and Infinity become 0 so the response stays valid JSON', () => {
  assert.deepEqual(JSON.parse(vectorToJsonString(new Float32Array([NaN, Infinity, -Infinity, -0]))), [0, 0, 0, 0]);
});

test('a list of vectors is one JSON array of arrays', () => {
  const a = new Float32Array([1, 2]);
  const b = new Float32Array([-0.5, 3]);
  assert.equal(Buffer.from(vectorsToJsonBytes([a, b])).toString(), '[[1,2],[-0.5,3]]');
  assert.equal(Buffer.from(vectorsToJsonBytes([])).toString(), '[]');
});
