/** The main thread's Batcher against the text-queue contract (queue-contract.case.ts). */
import { Batcher } from '../../src/core/batcher.js';
import type { Batch, BatchResult } from '../../src/core/types.js';
import { FakeBackend } from '../helpers/fake-backend.js';
import { POISON, runQueueContract } from './queue-contract.case.js';

/** FakeBackend (padded, one call at a time) whose calls fail when they carry a POISON input. */
class PoisonableBackend extends FakeBackend {
  override async embed(batch: Batch): Promise<BatchResult> {
    const result = await super.embed(batch);
    if (batch.inputs.some((input) => input.ids[0] === POISON)) throw new Error('this batch fails');
    return result;
  }
}

runQueueContract({
  name: 'Batcher',
  newQueue: async (limits) => {
    const backend = new PoisonableBackend();
    return {
      queue: new Batcher(backend, limits),
      batches: () => backend.batches.map((b) => b.map((input) => input[0])),
      hold: () => backend.hold(),
      close: async () => {},
    };
  },
});
