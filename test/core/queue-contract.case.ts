/**
 * What every text queue behind --batch-queue must do (InputQueue in src/core/types.ts), run
 * against each implementation: batcher.contract.test.ts (the main thread's Batcher) and
 * shared-queue/shared-text-queue.contract.test.ts (the shared-memory queue with a real session thread).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BatcherLimits } from '../../src/core/batcher.js';
import { CallCancellation } from '../../src/core/cancellation.js';
import type { EmbedOutcome, EncodedText, InputQueue } from '../../src/core/types.js';
import { isCoalesceError } from '../../src/errors.js';
import { ids, within } from '../helpers/fake-backend.js';
import { waitFor } from '../helpers/wait-for.js';

/** An input whose first id is this fails the model call that carries it. */
export const POISON = 666_666;

export interface QueueUnderTest {
  queue: InputQueue<EncodedText>;
  /**
   * The model calls so far, each as its inputs' first ids, in the order they reached the model.
   * Answers are [input length, first id, ...], so a test can tell every answer's input.
   */
  batches(): number[][];
  /** Holds the model: a call that starts from now on waits until the returned function is called. */
  hold(): () => void;
  close(): Promise<void>;
}

export interface QueueContractOptions {
  name: string;
  /** A queue of padded inputs (a batch costs its longest input x its size) with these limits. */
  newQueue(limits: BatcherLimits): Promise<QueueUnderTest>;
}

const firstIds = (outcomes: EmbedOutcome[]) => outcomes.map((o) => o.vector[1]);

export function runQueueContract({ name, newQueue }: QueueContractOptions): void {
  /** A queue whose model is busy with one blocking call: what is submitted next waits in the queue. */
  async function busy(limits: BatcherLimits) {
    const q = await newQueue(limits);
    const release = q.hold();
    const blocker = q.queue.submit([ids(1, 1)]);
    await waitFor(() => q.batches().length === 1, { what: 'the blocking call starts' });
    return { ...q, release, blocker };
  }

  async function using(q: QueueUnderTest, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } finally {
      await q.close();
    }
  }

  test(`${name}: each request gets its own answers in input order, every input runs once, the oldest first`, async () => {
    const q = await busy({ maxBatchTokens: 10_000, maxBatchRequests: 4 });
    await using(q, async () => {
      const requests = [[11, 12], [13], [14, 15, 16], [17]].map((firsts) => q.queue.submit(firsts.map((f, i) => ids(2 + i, f))));
      assert.equal(q.queue.queued, 7, 'seven inputs wait while the model is busy');
      q.release();
      const answers = await within(Promise.all([q.blocker, ...requests]));
      assert.deepEqual(answers.slice(1).map(firstIds), [[11, 12], [13], [14, 15, 16], [17]]);
      assert.deepEqual(
        answers.slice(1).map((r) => r.map((o) => o.vector[0])),
        [[2, 3], [2], [2, 3, 4], [2]],
      );
      const ran = q.batches().slice(1);
      assert.deepEqual(
        ran.flat().sort((a, b) => a - b),
        [11, 12, 13, 14, 15, 16, 17],
      );
      assert.ok(ran[0].includes(11), 'the oldest input is in the first batch after the blocker');
      assert.equal(q.queue.queued, 0);
    });
  });

  test(`${name}: a batch stays within the token budget, padding counted (longest input x size)`, async () => {
    const q = await busy({ maxBatchTokens: 40, maxBatchRequests: 100, minPaddingEfficiency: 0 });
    await using(q, async () => {
      const all = Array.from({ length: 8 }, (_, i) => q.queue.submit([ids(10, 100 + i)]));
      q.release();
      await within(Promise.all([q.blocker, ...all]));
      assert.deepEqual(
        q
          .batches()
          .slice(1)
          .map((b) => b.length),
        [4, 4],
      );
    });
  });

  test(`${name}: max batch requests caps the inputs of one call`, async () => {
    const q = await busy({ maxBatchTokens: 10_000, maxBatchRequests: 3 });
    await using(q, async () => {
      const all = Array.from({ length: 7 }, (_, i) => q.queue.submit([ids(2, 100 + i)]));
      q.release();
      await within(Promise.all([q.blocker, ...all]));
      assert.deepEqual(
        q
          .batches()
          .slice(1)
          .map((b) => b.length),
        [3, 3, 1],
      );
    });
  });

  test(`${name}: a cancelled request is rejected at once and its queued inputs never reach the model`, async () => {
    const q = await busy({ maxBatchTokens: 10_000, maxBatchRequests: 100 });
    await using(q, async () => {
      const scope = new CallCancellation();
      const cancelled = q.queue.submit([ids(5, 42), ids(5, 43)], scope);
      const kept = q.queue.submit([ids(5, 44)]);
      scope.abort();
      await assert.rejects(within(cancelled), (e) => isCoalesceError(e) && e.kind === 'cancelled');
      assert.equal(q.queue.queued, 1, 'only the kept input still waits');
      q.release();
      assert.deepEqual(firstIds(await within(kept)), [44]);
      await within(q.blocker);
      const ran = q.batches().flat();
      assert.ok(!ran.includes(42) && !ran.includes(43), `cancelled inputs ran: ${ran}`);
    });
  });

  test(`${name}: a failed model call fails every request it carried with a backend error, and the queue keeps serving`, async () => {
    const q = await busy({ maxBatchTokens: 10_000, maxBatchRequests: 100 });
    await using(q, async () => {
      const poisoned = q.queue.submit([ids(2, 50), ids(2, POISON)]);
      const sharing = q.queue.submit([ids(2, 51)]);
      q.release();
      await within(q.blocker);
      const results = await within(Promise.allSettled([poisoned, sharing]));
      assert.deepEqual(
        q.batches()[1].sort((a, b) => a - b),
        [50, 51, POISON],
        'the three inputs shared one call',
      );
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        const e = (r as PromiseRejectedResult).reason;
        assert.ok(isCoalesceError(e) && e.kind === 'backend', `not a backend error: ${e}`);
      }
      assert.deepEqual(firstIds(await within(q.queue.submit([ids(2, 52)]))), [52]);
    });
  });

  test(`${name}: drain refuses new inputs at once and resolves after everything admitted has run`, async () => {
    const q = await busy({ maxBatchTokens: 10_000, maxBatchRequests: 100 });
    await using(q, async () => {
      const settled: string[] = [];
      const admitted = q.queue.submit([ids(3, 60)]).then((outcomes) => (settled.push('answer'), outcomes));
      const draining = q.queue.drain().then(() => settled.push('drained'));
      await assert.rejects(q.queue.submit([ids(2, 61)]), (e) => isCoalesceError(e) && e.kind === 'unhealthy');
      q.release();
      assert.deepEqual(firstIds(await within(admitted)), [60]);
      await within(Promise.all([draining, q.blocker]));
      assert.deepEqual(settled, ['answer', 'drained'], 'drain resolved before an admitted input was answered');
      assert.ok(!q.batches().flat().includes(61));
    });
  });
}
