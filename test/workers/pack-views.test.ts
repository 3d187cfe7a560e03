import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packViews } from '../../src/workers/pack-views.js';

test('packViews copies arrays into one buffer of their total size and returns views in order', () => {
  const big = new Float32Array([9, 9, 1, 2, 3, 9]);
  const parts = [big.subarray(2, 5), new Float32Array([]), new Float32Array([4, 5])];
  const packed = packViews(parts, (n) => new Float32Array(n));
  assert.deepEqual(packed.map((v) => [...v]), [[1, 2, 3], [], [4, 5]]);
  assert.equal(new Set(packed.map((v) => v.buffer)).size, 1);
  assert.equal(packed[0].buffer.byteLength, 5 * 4);
  assert.notEqual(packed[0].buffer, big.buffer, 'a copy: the source buffer stays whole');
});
