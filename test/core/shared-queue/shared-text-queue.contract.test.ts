/** The shared-memory text queue, with a real session thread taking its batches, against the text-queue contract (queue-contract.case.ts). */
import { Worker } from 'node:worker_threads';
import { isTakenAnswer } from '../../../src/core/shared-queue/port.js';
import { SharedTextQueue } from '../../../src/core/shared-queue/shared-text-queue.js';
import { POISON_ID, type TakeWorkerData } from '../../helpers/take-worker.js';
import { POISON, runQueueContract } from '../queue-contract.case.js';

const WORKER = new URL('../../helpers/take-worker.js', import.meta.url);
if (POISON_ID !== POISON) throw new Error('the stand-in session and the contract must agree on the failing input');

runQueueContract({
  name: 'SharedTextQueue',
  newQueue: async (limits) => {
    const queue = new SharedTextQueue(64, true, limits);
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const batches: number[][] = [];
    const workerData: TakeWorkerData = { runMs: 0, gate: gate.buffer as SharedArrayBuffer, report: true };
    const worker = new Worker(WORKER, { workerData });
    worker.on('message', (m: unknown) => {
      if (isTakenAnswer(m)) queue.answer(m);
      else if ((m as { type?: string }).type === 'ran') batches.push((m as { firstIds: number[] }).firstIds);
    });
    worker.on('error', (e) => queue.fail(e));
    worker.postMessage(queue.order);
    return {
      queue,
      batches: () => batches,
      hold: () => {
        Atomics.store(gate, 0, 1);
        return () => {
          Atomics.store(gate, 0, 0);
          Atomics.notify(gate, 0);
        };
      },
      close: async () => {
        await worker.terminate();
      },
    };
  },
});
