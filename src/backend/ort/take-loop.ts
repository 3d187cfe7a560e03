/**
 * A session thread taking its batches from the shared text queue (core/shared-queue) instead of
 * being sent them: the moment a run ends, the thread chooses and takes its next batch, without
 * waiting for the main thread's event loop to read its answer first.
 */
import { parentPort } from 'node:worker_threads';
import { BatchCostModel } from '../../core/batch-cost.js';
import { sessionSide, type TakenAnswer, type TakenBatch, type TakeOrder } from '../../core/shared-queue/port.js';
import { transferable } from '../../workers/transferable.js';
import { replyVectors, type RunOutput } from './reply-vectors.js';
import { isOutOfMemory } from '../../core/out-of-memory.js';

/** `idle`: background work done one step at a time while the queue is empty, until it answers false. */
export async function takeBatches(order: TakeOrder, run: (batch: TakenBatch) => Promise<RunOutput>, idle?: () => Promise<boolean>): Promise<never> {
  const port = parentPort!;
  // A pending Atomics.waitAsync does not keep a thread alive; the port does, even with no listener left.
  port.ref();
  const queue = sessionSide(order);
  // Each session learns its own call costs: the sessions share the device alike, so they learn alike.
  const costModel = new BatchCostModel();
  let idleLeft = idle !== undefined;
  for (;;) {
    const seen = queue.publications();
    const batch = queue.take(costModel);
    if (!batch) {
      if (idleLeft) idleLeft = await idle!();
      else await queue.published(seen);
      continue;
    }
    await runAndAnswer(batch, true);
  }

  /** Runs a taken batch and answers it; out of memory, its halves run and are answered apart (the main thread routes answers by slot). */
  async function runAndAnswer(batch: TakenBatch, whole: boolean): Promise<void> {
    const started = performance.now();
    try {
      const { vectors, normalized, dimensions, transfer } = replyVectors(await run(batch));
      // The server sends only dense embedding models through the shared queue (server.ts).
      if (!normalized) throw new Error('the shared text queue carries dense vectors only');
      const sessionMs = performance.now() - started;
      if (whole) costModel.observe(batch.units, sessionMs);
      const answer: TakenAnswer = {
        type: 'taken',
        slots: batch.slots,
        vectors,
        normalized,
        dimensions,
        startedAt: performance.timeOrigin + started,
        sessionMs,
        units: batch.units,
        useful: batch.useful,
      };
      port.postMessage(answer, transferable(transfer));
    } catch (e) {
      if (batch.slots.length > 1 && isOutOfMemory(e)) {
        const [first, second] = splitTaken(batch);
        await runAndAnswer(first, false);
        await runAndAnswer(second, false);
        return;
      }
      port.postMessage({ type: 'taken-failed', slots: batch.slots, message: (e as Error).message } satisfies TakenAnswer);
    }
  }
}

/** The first and second half of a taken batch's rows, each packed as a batch of its own. */
export function splitTaken(batch: TakenBatch): [TakenBatch, TakenBatch] {
  const half = Math.ceil(batch.slots.length / 2);
  const part = (from: number, to: number): TakenBatch => {
    let start = 0;
    for (let i = 0; i < from; i++) start += batch.lengths[i];
    let end = start;
    let longest = 0;
    for (let i = from; i < to; i++) {
      end += batch.lengths[i];
      longest = Math.max(longest, batch.lengths[i]);
    }
    const padded = batch.units !== batch.useful;
    return {
      slots: batch.slots.slice(from, to),
      ids: batch.ids.slice(start, end),
      typeIds: batch.typeIds.slice(start, end),
      lengths: batch.lengths.slice(from, to),
      units: padded ? (to - from) * longest : end - start,
      useful: end - start,
    };
  };
  return [part(0, half), part(half, batch.slots.length)];
}
