import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packGroups, packViews } from '../../src/workers/pack-views.js';

test('packViews copies arrays into one buffer of their total size and returns views in order', () => {
  const big = new Float32Array([9, 9, 1, 2, 3, 9]);
  const parts = [big.subarray(2, 5), new Float32Array([]), new Float32Array([4, 5])];
  const packed = packViews(parts, (n) => new Float32Array(n));
  assert.deepEqual(
    packed.map((v) => [...v]),
    [[1, 2, 3], [], [4, 5]],
  );
  assert.equal(new Set(packed.map((v) => v.buffer)).size, 1);
  assert.equal(packed[0].buffer.byteLength, 5 * 4);
  assert.notEqual(packed[0].buffer, big.buffer, 'a copy: the source buffer stays whole');
});

test('packGroups hands the views back list by list, over one buffer, or none when there is nothing', () => {
  const { groups, buffer } = packGroups([[new Uint32Array([1, 2])], [], [new Uint32Array([3]), new Uint32Array([4, 5])]], (n) => new Uint32Array(n));
  assert.deepEqual(
    groups.map((g) => g.map((v) => [...v])),
    [[[1, 2]], [], [[3], [4, 5]]],
  );
  assert.ok(groups.flat().every((v) => v.buffer === buffer));
  assert.equal(buffer!.byteLength, 5 * 4);
  assert.equal(packGroups([[], []], (n) => new Uint8Array(n)).buffer, null);
});
