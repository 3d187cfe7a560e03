/**
 * The shared text queue on one thread: the test takes batches as a session thread would
 * (takeBatch) and answers them, so every step between admission and answer can be checked.
 * test/backend/ort/take-loop.test.ts runs it with real session-like threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchCostModel } from '../../../src/core/batch-cost.js';
import type { BatchStats } from '../../../src/core/batcher.js';
import { CallCancellation } from '../../../src/core/cancellation.js';
import { viewsOf } from '../../../src/core/shared-queue/layout.js';
import { SharedTextQueue } from '../../../src/core/shared-queue/shared-text-queue.js';
import { takeBatch, type TakenBatch } from '../../../src/core/shared-queue/take.js';
import { isCoalesceError } from '../../../src/errors.js';
import { ids, within } from '../../helpers/fake-backend.js';
import { FAKE_DIMS, fakeSessionVectors } from '../../helpers/fake-session-vectors.js';

function session(queue: SharedTextQueue) {
  const views = viewsOf(queue.order.buffers);
  const costModel = new BatchCostModel();
  return {
    take: () => takeBatch(views, queue.order.budget, costModel),
    /** Answers with fakeSessionVectors. */
    answer(batch: TakenBatch, startedAt = performance.timeOrigin + performance.now()) {
      const vectors = fakeSessionVectors(batch);
      queue.answer({
        type: 'taken',
        slots: batch.slots,
        vectors,
        normalized: vectors.map((x) => -x),
        dimensions: FAKE_DIMS,
        startedAt,
        sessionMs: 1,
        units: batch.units,
        useful: batch.useful,
      });
    },
  };
}

const newQueue = (limits: { maxBatchTokens?: number; maxBatchRequests?: number; onBatch?: (b: BatchStats) => void } = {}, slots?: number, padded = false) =>
  new SharedTextQueue(16, padded, { maxBatchTokens: 1000, maxBatchRequests: 100, ...limits }, slots);

test("a batch taken from shared memory carries each input's tokens, and its answer reaches each request in order", async () => {
  const seen: BatchStats[] = [];
  const queue = newQueue({ onBatch: (b) => seen.push(b) });
  const s = session(queue);
  const first = queue.submit([ids(3, 11), { ids: Uint32Array.from([5, 6]), typeIds: Uint8Array.from([0, 1]) }]);
  const second = queue.submit([ids(4, 12)]);
  assert.equal(queue.queued, 3);
  const batch = s.take()!;
  assert.equal(batch.lengths.length, 3);
  assert.equal(queue.queued, 0);
  // The pair's type ids travel with it; an input without them gets zeros.
  const pair = [...batch.lengths].indexOf(2);
  const pairAt = [...batch.lengths].slice(0, pair).reduce((a, b) => a + b, 0);
  assert.deepEqual([...batch.typeIds.subarray(pairAt, pairAt + 2)], [0, 1]);
  assert.equal(
    batch.typeIds.reduce((a, b) => a + b, 0),
    1,
  );
  assert.equal(s.take(), null, 'nothing is left to take');
  s.answer(batch);
  const [a, b] = await within(Promise.all([first, second]));
  assert.deepEqual(
    a.map((o) => [...o.vector]),
    [
      [3, 11, 13],
      [2, 5, 11],
    ],
  );
  assert.deepEqual([...a[0].normalized!], [-3, -11, -13]);
  assert.deepEqual(
    b.map((o) => [...o.vector]),
    [[4, 12, 15]],
  );
  assert.ok(a.every((o) => o.batchSize === 3 && o.queueMs >= 0 && o.inferenceMs >= 0));
  assert.deepEqual(
    seen.map((x) => [x.size, x.useful, x.units, x.sessionMs]),
    [[3, 9, 9, 1]],
  );
});

test('the session chooses within the budget around the oldest input, as the batcher on the main thread does', async () => {
  const queue = newQueue({ maxBatchTokens: 20, maxBatchRequests: 100 }, undefined, true);
  const s = session(queue);
  const all = [queue.submit([ids(10, 101)]), queue.submit([ids(2, 102)]), queue.submit([ids(9, 103)]), queue.submit([ids(10, 104)])];
  const first = s.take()!;
  assert.deepEqual([...first.ids].filter((id) => id !== 1).sort(), [101, 104], 'the oldest input with the one that pads nothing, within 20 padded tokens');
  assert.deepEqual([first.units, first.useful], [20, 20]);
  s.answer(first);
  // Padding 2 tokens to 9 is more waste than an unlearned cost model allows (chooseCandidate).
  const second = s.take()!;
  assert.deepEqual([...second.lengths], [2]);
  s.answer(second);
  const third = s.take()!;
  assert.deepEqual([...third.lengths], [9]);
  s.answer(third);
  const results = await within(Promise.all(all));
  assert.deepEqual(
    results.map((r) => r[0].vector[1]),
    [101, 102, 103, 104],
  );
});

test('a request cancelled while queued leaves the queue before any session takes it; its slots are reused', async () => {
  const queue = newQueue({}, 2);
  const s = session(queue);
  const scope = new CallCancellation();
  const cancelled = queue.submit([ids(3, 21), ids(3, 22)], scope);
  scope.abort();
  await assert.rejects(cancelled, (e) => isCoalesceError(e) && e.kind === 'cancelled');
  assert.equal(queue.queued, 0);
  assert.equal(s.take(), null, 'no session runs a cancelled input');
  const kept = queue.submit([ids(2, 23), ids(2, 24)]);
  const batch = s.take()!;
  assert.equal(batch.lengths.length, 2, 'both slots were free again');
  s.answer(batch);
  assert.deepEqual(
    (await within(kept)).map((o) => o.vector[1]),
    [23, 24],
  );
});

test('a request cancelled after a session took it is answered no more, and its slots come back with the answer', async () => {
  const queue = newQueue({}, 1);
  const s = session(queue);
  const scope = new CallCancellation();
  const cancelled = queue.submit([ids(3, 31)], scope);
  const batch = s.take()!;
  scope.abort();
  await assert.rejects(cancelled, (e) => isCoalesceError(e) && e.kind === 'cancelled');
  const waiting = queue.submit([ids(2, 32)]);
  assert.equal(s.take(), null, 'the only slot is still taken');
  s.answer(batch);
  const next = s.take()!;
  s.answer(next);
  assert.deepEqual(
    (await within(waiting)).map((o) => o.vector[1]),
    [32],
  );
});

test('inputs beyond the slots wait in order and move in as answers free slots', async () => {
  const queue = newQueue({}, 2);
  const s = session(queue);
  const requests = Array.from({ length: 5 }, (_, i) => queue.submit([ids(2 + i, 40 + i)]));
  assert.equal(queue.queued, 5);
  const order: number[] = [];
  for (let round = 0; round < 5; round++) {
    const batch = s.take();
    if (!batch) break;
    assert.ok(batch.lengths.length <= 2);
    const at = [0];
    for (const n of batch.lengths) at.push(at[at.length - 1] + n);
    batch.lengths.forEach((_, i) => order.push(batch.ids[at[i]]));
    s.answer(batch);
  }
  assert.deepEqual(order, [40, 41, 42, 43, 44]);
  assert.deepEqual(
    (await within(Promise.all(requests))).map((r) => r[0].vector[1]),
    [40, 41, 42, 43, 44],
  );
  await within(queue.drain());
});

test('a failed model call fails its requests with a backend error; a dead session thread fails everything, now and later', async () => {
  const queue = newQueue();
  const s = session(queue);
  const failing = queue.submit([ids(2)]);
  const batch = s.take()!;
  queue.answer({ type: 'taken-failed', slots: batch.slots, message: 'out of memory' });
  await assert.rejects(failing, (e) => isCoalesceError(e) && e.kind === 'backend' && /out of memory/.test(e.message));

  const stranded = queue.submit([ids(2)]);
  queue.fail(new Error('a model worker exited (code 1)'));
  await assert.rejects(stranded, (e) => isCoalesceError(e) && e.kind === 'unhealthy');
  await assert.rejects(queue.submit([ids(2)]), (e) => isCoalesceError(e) && e.kind === 'unhealthy' && /exited/.test(e.message));
});

test('an input longer than a slot is refused, and a draining queue takes nothing new', async () => {
  assert.throws(() => newQueue({}, 4096), RangeError, "slot numbers must fit the sessions' sort keys");
  const queue = newQueue();
  await assert.rejects(queue.submit([ids(17)]), (e) => isCoalesceError(e) && e.kind === 'over_limit');
  const s = session(queue);
  const pending = queue.submit([ids(2)]);
  const drained = queue.drain();
  await assert.rejects(queue.submit([ids(2)]), (e) => isCoalesceError(e) && e.kind === 'unhealthy');
  s.answer(s.take()!);
  await within(Promise.all([pending, drained]));
});
