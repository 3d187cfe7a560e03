import assert from 'node:assert/strict';
import { test } from 'node:test';
import { float16ToFloat32, imageBucket, nextPow2, padBatch, textRowBucket } from '../../../src/backend/ort/tensors.js';

const ids = Uint32Array.from([101, 7, 102, 101, 8, 9, 2 ** 31 - 1, 102]);
const types = Uint8Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
const lengths = Uint32Array.from([3, 5]);

test('int64 and int32 padding write the same values (ids up to 2^31 - 1, masks, types, positions)', () => {
  const wide = padBatch(ids, types, lengths, 'int64');
  const narrow = padBatch(ids, types, lengths, 'int32');
  assert.equal(wide.seqLen, 5);
  assert.equal(wide.rows, 2);
  assert.deepEqual(Array.from(wide.ids as BigInt64Array, Number), [101, 7, 102, 0, 0, 101, 8, 9, 2 ** 31 - 1, 102]);
  assert.deepEqual(Array.from(wide.mask as BigInt64Array, Number), [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(wide.typeIds as BigInt64Array, Number), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(wide.positions as BigInt64Array, Number), [0, 1, 2, 0, 0, 0, 1, 2, 3, 4]);
  for (const key of ['ids', 'mask', 'typeIds', 'positions'] as const) {
    assert.deepEqual(Array.from(narrow[key] as Int32Array), Array.from(wide[key] as BigInt64Array, Number), key);
  }
});

test('sequence and batch multiples pad with masked columns and one-token filler rows', () => {
  const p = padBatch(ids, types, lengths, 'int64', { seqMultiple: 8, batchMultiple: 4 });
  assert.equal(p.seqLen, 8);
  assert.equal(p.rows, 4);
  const mask = Array.from(p.mask as BigInt64Array, Number);
  assert.deepEqual(mask.slice(0, 8), [1, 1, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(mask.slice(8, 16), [1, 1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual(mask.slice(16, 24), [1, 0, 0, 0, 0, 0, 0, 0], 'a filler row attends to one token');
  assert.deepEqual(mask.slice(24), [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(p.ids as BigInt64Array, Number).slice(16), new Array(16).fill(0));
  // never past the model's longest sequence
  assert.equal(padBatch(ids, types, lengths, 'int64', { seqMultiple: 8, maxSeqLen: 6 }).seqLen, 6);
  assert.equal(padBatch(ids, types, lengths, 'int64', { seqMultiple: 8, maxSeqLen: 4 }).seqLen, 5, 'an input already longer stays as it is');
  // a multiple already met adds nothing
  const same = padBatch(ids, types, lengths, 'int32', { seqMultiple: 5, batchMultiple: 2 });
  assert.equal(same.seqLen, 5);
  assert.equal(same.rows, 2);
});

test('positions can be skipped for models that do not take them', () => {
  const p = padBatch(ids, types, lengths, 'int64', { positions: false });
  assert.equal(p.positions.length, 0);
  assert.equal(p.ids.length, 10);
});

test('row buckets', () => {
  assert.deepEqual([1, 2, 3, 5, 8, 9, 300].map(nextPow2), [1, 2, 4, 8, 8, 16, 512]);
  assert.deepEqual([1, 2, 3, 5, 8, 9, 16, 17, 21, 32, 33, 63, 64].map(imageBucket), [1, 2, 3, 5, 8, 9, 16, 20, 24, 32, 40, 64, 64]);
  assert.deepEqual([1, 3, 5, 16, 17, 33, 64, 65, 81, 128, 129, 300, 512].map(textRowBucket), [1, 4, 8, 16, 24, 40, 64, 80, 96, 128, 160, 320, 512]);
  // Fewer than 8 filler rows up to 64, under a quarter of the batch above.
  for (let n = 17; n <= 512; n++) assert.ok(textRowBucket(n) - n < Math.max(8, n / 4), `${n} -> ${textRowBucket(n)}`);
  const p = padBatch(Uint32Array.from([101, 102, 101, 7, 102, 101, 8, 102]), new Uint8Array(8), Uint32Array.from([2, 3, 3]), 'int32', {
    rowBuckets: true,
    seqMultiple: 4,
  });
  assert.equal(p.rows, 4);
  assert.equal(p.seqLen, 4);
  assert.deepEqual(Array.from(p.mask as Int32Array).slice(12), [1, 0, 0, 0]);
});

test('float16 outputs widen to float32 whether they come as raw bits (Uint16Array) or as a Float16Array', () => {
  // 1, -2, 0.5, 65504 (the largest half), as IEEE 754 half bits.
  assert.deepEqual([...float16ToFloat32(Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff]))], [1, -2, 0.5, 65504]);
  // Node 24 has Float16Array, and ONNX Runtime then returns float16 data as one: its values, not its bits.
  const Float16 = (globalThis as { Float16Array?: new (values: number[]) => ArrayLike<number> }).Float16Array;
  if (Float16) assert.deepEqual([...float16ToFloat32(new Float16([1, -2, 0.5, 65504]))], [1, -2, 0.5, 65504]);
});
