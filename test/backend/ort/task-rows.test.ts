import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { sparseRows, tokenVectorRows } from '../../../src/backend/ort/task-rows.js';

test('sparseRows: (term, value) pairs per input, empty inputs kept, filler rows dropped', () => {
  // Rows 0 and 2 have terms; row 1 none; row 3 is filler (only 3 inputs).
  const indices = new ort.Tensor('int64', BigInt64Array.from([0n, 5n, 0n, 9n, 2n, 1n, 3n, 4n]), [4, 2]);
  const values = new ort.Tensor('float32', Float32Array.of(0.5, 1.5, 2.5, 9), [4]);
  const out = sparseRows(indices, values, 3);
  assert.deepEqual(Array.from(out.offsets!), [0, 4, 4, 6]);
  assert.deepEqual(Array.from(out.vectors), [5, 0.5, 9, 1.5, 1, 2.5]);
});

test('tokenVectorRows: each input keeps its real tokens, padding and filler rows dropped', () => {
  // 3 rows x 3 positions x 2 dims; inputs of 2 and 1 tokens; row 2 is filler.
  const data = Float32Array.from({ length: 18 }, (_, i) => i);
  const out = tokenVectorRows(new ort.Tensor('float32', data, [3, 3, 2]), Uint32Array.of(2, 1));
  assert.deepEqual(Array.from(out.offsets!), [0, 4, 6]);
  assert.deepEqual(Array.from(out.vectors), [0, 1, 2, 3, 6, 7]);
});
