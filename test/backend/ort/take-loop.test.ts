/**
 * Session threads taking batches from the shared text queue themselves, concurrently: every
 * answer must reach the request it belongs to, nothing may run twice or be lost, and cancelled
 * requests must not be answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { BatchStats } from '../../../src/core/batcher.js';
import { CallCancellation } from '../../../src/core/cancellation.js';
import { isTakenAnswer } from '../../../src/core/shared-queue/port.js';
import { SharedTextQueue } from '../../../src/core/shared-queue/shared-text-queue.js';
import { isCoalesceError } from '../../../src/errors.js';
import { within } from '../../helpers/wait-for.js';
import { splitTaken } from '../../../src/backend/ort/take-loop.js';

const WORKER = new URL('../../helpers/take-worker.js', import.meta.url);

/** Runs `body` once `count` session threads take from `queue` (each is waiting for inputs, or taking them). */
async function withSessions(queue: SharedTextQueue, count: number, body: () => Promise<void>): Promise<void> {
  const workers = Array.from({ length: count }, () => new Worker(WORKER, { workerData: { runMs: 1 } }));
  const taking = workers.map((w) => {
    w.on('message', (m) => {
      if (isTakenAnswer(m)) queue.answer(m);
    });
    const started = new Promise<void>((resolve, reject) => {
      w.on('message', (m) => m?.type === 'taking' && resolve());
      w.once('error', reject);
    });
    w.postMessage(queue.order);
    return started;
  });
  try {
    await within(Promise.all(taking), 10_000, 'the session threads to start taking');
    await body();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** A deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

test('three session threads take 400 requests from shared memory: each answer is its own, budgets hold, cancelled ones are dropped', async () => {
  const batches: BatchStats[] = [];
  // Few slots, so inputs also wait on the main thread and move in as answers free slots.
  const queue = new SharedTextQueue(16, false, { maxBatchTokens: 64, maxBatchRequests: 8, onBatch: (b) => batches.push(b) }, 24);
  const rand = random(7);
  await withSessions(queue, 3, async () => {
    const requests = Array.from({ length: 400 }, (_, r) => {
      const inputs = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => ({
        ids: Uint32Array.from({ length: 1 + Math.floor(rand() * 16) }, () => 1 + Math.floor(rand() * 30_000)),
      }));
      const cancel = r % 10 === 3 ? new CallCancellation() : null;
      const answer = queue.submit(inputs, cancel ?? undefined);
      if (cancel) setTimeout(() => cancel.abort(), Math.floor(rand() * 3));
      return { inputs, answer, cancelled: cancel !== null };
    });
    const settled = await within(Promise.allSettled(requests.map((r) => r.answer)), 20_000);
    let answered = 0;
    settled.forEach((s, r) => {
      const { inputs, cancelled } = requests[r];
      if (s.status === 'rejected') {
        assert.ok(cancelled && isCoalesceError(s.reason) && s.reason.kind === 'cancelled', `request ${r}: ${s.reason}`);
        return;
      }
      answered++;
      s.value.forEach((o, i) => {
        const own = inputs[i].ids;
        assert.deepEqual([...o.vector], [own.length, own[0], own.reduce((a, b) => a + b, 0)], `request ${r}, input ${i}`);
      });
    });
    assert.ok(answered >= 360, `${answered} of 400 answered`);
    assert.ok(
      batches.every((b) => b.size <= 8 && b.useful <= 64),
      'every batch within --max-batch-requests and --max-batch-tokens',
    );
    assert.ok(
      batches.some((b) => b.size > 1),
      'concurrent requests shared model calls',
    );
    await within(queue.drain());
    assert.equal(queue.queued, 0);
  });
});

test('a session thread idle on an empty queue wakes for the next input, and a failed call fails only its own requests', async () => {
  const queue = new SharedTextQueue(16, false, { maxBatchTokens: 64, maxBatchRequests: 8 });
  await withSessions(queue, 2, async () => {
    const [o] = await within(queue.submit([{ ids: Uint32Array.from([5, 6]) }]));
    assert.deepEqual([...o.vector], [2, 5, 11]);
    await assert.rejects(
      within(queue.submit([{ ids: Uint32Array.from([666_666]) }])),
      (e) => isCoalesceError(e) && e.kind === 'backend' && /this batch fails/.test(e.message),
    );
    const [after] = await within(queue.submit([{ ids: Uint32Array.from([7]) }]));
    assert.deepEqual([...after.vector], [1, 7, 7]);
  });
});

test('a taken batch that runs out of memory is split and its halves answered, down to the one input that needs it', async () => {
  const queue = new SharedTextQueue(16, false, { maxBatchTokens: 64, maxBatchRequests: 8 });
  await withSessions(queue, 1, async () => {
    const inputs = [[5, 6], [7], [777_777, 1], [8, 9, 10], [11], [12, 13]].map((ids) => ({ ids: Uint32Array.from(ids) }));
    const outcomes = await within(queue.submit(inputs));
    assert.deepEqual(
      outcomes.map((o) => [...o.vector]),
      inputs.map(({ ids }) => [ids.length, ids[0], ids.reduce((a, b) => a + b, 0)]),
    );
  });
});

test('splitTaken halves the rows and their tokens', () => {
  const batch = {
    slots: Int32Array.from([4, 9, 2]),
    ids: Uint32Array.from([1, 2, 3, 4, 5, 6]),
    typeIds: Uint8Array.from([0, 0, 1, 0, 0, 0]),
    lengths: Uint32Array.from([2, 1, 3]),
    units: 9,
    useful: 6,
  };
  const [a, b] = splitTaken(batch);
  assert.deepEqual([[...a.slots], [...a.ids], [...a.typeIds], [...a.lengths], a.units, a.useful], [[4, 9], [1, 2, 3], [0, 0, 1], [2, 1], 4, 3]);
  assert.deepEqual([[...b.slots], [...b.ids], [...b.typeIds], [...b.lengths], b.units, b.useful], [[2], [4, 5, 6], [0, 0, 0], [3], 3, 3]);
});
