/**
 * A stand-in session thread for take-loop tests: it takes batches from the shared text queue
 * with the real loop and answers with fakeSessionVectors.
 */
import { takeBatches } from '../../src/backend/ort/take-loop.js';
import type { TakeOrder } from '../../src/core/shared-queue/shared-text-queue.js';
import { parentPort, workerData } from 'node:worker_threads';
import { FAKE_DIMS, fakeSessionVectors } from './fake-session-vectors.js';

// `node --test dist/test/` loads this file too, outside any worker: it then does nothing.
parentPort?.once('message', (order: TakeOrder) => {
  const { runMs } = workerData as { runMs: number };
  void takeBatches(order, async (batch) => {
    // Busy, as a session is: inputs keep arriving meanwhile, so later batches grow.
    const until = performance.now() + runMs;
    while (performance.now() < until);
    if (batch.ids[0] === 666_666) throw new Error('this batch fails');
    return { vectors: fakeSessionVectors(batch), dimensions: FAKE_DIMS };
  });
});
