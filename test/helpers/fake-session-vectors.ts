import type { TakenBatch } from '../../src/core/shared-queue/port.js';

/** Width of fakeSessionVectors' rows. */
export const FAKE_DIMS = 3;

/**
 * What the shared-queue tests' stand-in sessions answer for a taken batch: each row [its length,
 * its first id, the sum of its ids], so a test can tell every answer's input from the answer.
 */
export function fakeSessionVectors(batch: Pick<TakenBatch, 'ids' | 'lengths'>): Float32Array {
  const vectors = new Float32Array(batch.lengths.length * FAKE_DIMS);
  let at = 0;
  batch.lengths.forEach((n, row) => {
    let sum = 0;
    for (let i = at; i < at + n; i++) sum += batch.ids[i];
    vectors.set([n, batch.ids[at], sum], row * FAKE_DIMS);
    at += n;
  });
  return vectors;
}
