/**
 * A stand-in session thread for take-loop tests: it takes batches from the shared text queue
 * with the real loop and answers each row with [its length, its first id, the sum of its ids].
 */
import { takeBatches } from '../../src/backend/ort/take-loop.js';
import type { TakeOrder } from '../../src/core/shared-queue/shared-text-queue.js';
import { parentPort, workerData } from 'node:worker_threads';

// `node --test dist/test/` loads this file too, outside any worker: it then does nothing.
parentPort?.once('message', (order: TakeOrder) => {
  const { runMs } = workerData as { runMs: number };
  void takeBatches(order, async (batch) => {
    // Busy, as a session is: inputs keep arriving meanwhile, so later batches grow.
    const until = performance.now() + runMs;
    while (performance.now() < until);
    const vectors = new Float32Array(batch.lengths.length * 3);
    let at = 0;
    batch.lengths.forEach((n, row) => {
      let sum = 0;
      for (let i = at; i < at + n; i++) sum += batch.ids[i];
      vectors.set([n, batch.ids[at], sum], row * 3);
      at += n;
    });
    if (batch.ids[0] === 666_666) throw new Error('this batch fails');
    return { vectors, dimensions: 3 };
  });
});
