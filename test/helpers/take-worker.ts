/**
 * A stand-in session thread for shared-queue tests: it takes batches from the shared text queue
 * with the real loop and answers with fakeSessionVectors. A batch holding an input whose first id
 * is POISON_ID fails; one of several holding OOM_ID runs out of memory. Optional, from workerData: `gate` (an Int32Array's buffer: while cell 0 is 1,
 * a taken batch waits before it runs) and `report` (post { type: 'ran', firstIds } for every batch taken).
 */
import { takeBatches } from '../../src/backend/ort/take-loop.js';
import type { TakeOrder } from '../../src/core/shared-queue/port.js';
import { parentPort, workerData } from 'node:worker_threads';
import { FAKE_DIMS, fakeSessionVectors } from './fake-session-vectors.js';

export const POISON_ID = 666_666;
/** A batch of more than one input holding an input whose first id is OOM_ID runs out of memory (as ORT says it). */
export const OOM_ID = 777_777;

export interface TakeWorkerData {
  runMs: number;
  gate?: SharedArrayBuffer;
  report?: boolean;
}

// `node --test dist/test/` loads this file too, outside any worker: it then does nothing.
parentPort?.once('message', (order: TakeOrder) => {
  const { runMs, gate, report } = workerData as TakeWorkerData;
  const held = gate ? new Int32Array(gate) : null;
  void takeBatches(order, async (batch) => {
    const firstIds: number[] = [];
    let at = 0;
    for (const n of batch.lengths) {
      firstIds.push(batch.ids[at]);
      at += n;
    }
    if (report) parentPort!.postMessage({ type: 'ran', firstIds });
    while (held && Atomics.load(held, 0) === 1) Atomics.wait(held, 0, 1, 100);
    // Busy, as a session is: inputs keep arriving meanwhile, so later batches grow.
    const until = performance.now() + runMs;
    while (performance.now() < until);
    if (firstIds.includes(POISON_ID)) throw new Error('this batch fails');
    if (firstIds.includes(OOM_ID) && firstIds.length > 1) throw new Error('Failed to allocate memory for requested buffer of size 123456');
    return { vectors: fakeSessionVectors(batch), dimensions: FAKE_DIMS };
  });
  // takeBatches ran up to its first wait: on an empty queue, the thread now waits for inputs.
  parentPort!.postMessage({ type: 'taking' });
});
