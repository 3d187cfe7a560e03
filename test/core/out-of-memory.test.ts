import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../src/core/batcher.js';
import { isOutOfMemory } from '../../src/core/out-of-memory.js';
import type { Batch, BatchResult } from '../../src/core/types.js';
import { isCoalesceError } from '../../src/errors.js';
import { FakeBackend, ids, within } from '../helpers/fake-backend.js';

/** Runs out of memory on any batch over `fits` inputs, or holding an input of `tooBig` tokens with another. */
class SmallMemoryBackend extends FakeBackend {
  constructor(
    private readonly fits: number,
    private readonly message = 'Non-zero status code returned while running MatMul node. Status Message: Failed to allocate memory for requested buffer of size 9437184',
  ) {
    super();
  }

  override async embed(batch: Batch): Promise<BatchResult> {
    if (batch.inputs.length > this.fits) {
      this.batches.push(batch.inputs.map((i) => [...i.ids]));
      throw new Error(this.message);
    }
    return super.embed(batch);
  }
}

test('ORT and CUDA out-of-memory messages are recognized; other failures are not', () => {
  for (const m of [
    'Failed to allocate memory for requested buffer of size 1024',
    'CUDA failure 2: out of memory ; GPU=0',
    'std::bad_alloc',
    'CUDNN_STATUS_ALLOC_FAILED',
    'cudaErrorMemoryAllocation',
  ]) {
    assert.ok(isOutOfMemory(new Error(m)), m);
  }
  for (const m of ['Invalid input name: foo', 'Got invalid dimensions for input', 'a model worker exited (code 1)']) assert.ok(!isOutOfMemory(new Error(m)), m);
});

test('a batch that runs out of memory is split in halves until the calls fit, and every request is answered', async () => {
  const backend = new SmallMemoryBackend(2);
  const batcher = new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 64 });
  const release = backend.hold();
  const blocker = batcher.submit([ids(1, 99)]);
  const requests = Array.from({ length: 7 }, (_, i) => batcher.submit([ids(3, 10 + i)]));
  release();
  await within(blocker);
  const outcomes = (await within(Promise.all(requests))).map(([o]) => o);
  // FakeBackend's vector: [length, first id, ...]: each request got its own.
  assert.deepEqual(
    outcomes.map((o) => [o.vector[0], o.vector[1]]),
    Array.from({ length: 7 }, (_, i) => [3, 10 + i]),
  );
  const sizes = backend.batches.map((b) => b.length);
  assert.ok(
    sizes.some((n) => n > 2),
    `a batch over what fits was tried: ${sizes}`,
  );
  const ran = sizes.filter((n) => n <= 2);
  assert.equal(
    ran.reduce((a, b) => a + b, 0),
    8,
    `the calls that fit carried every input once (the blocker's too): ${sizes}`,
  );
});

test('an input that runs out of memory alone fails its request as backend; other failures are not retried', async () => {
  const backend = new SmallMemoryBackend(0);
  const batcher = new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 64 });
  await assert.rejects(within(batcher.submit([ids(3)])), (e) => isCoalesceError(e) && e.kind === 'backend' && /allocate memory/.test(e.message));
  const other = new SmallMemoryBackend(1, 'Invalid input name: token_type_ids');
  const batcher2 = new Batcher(other, { maxBatchTokens: 1000, maxBatchRequests: 64 });
  const release = other.hold();
  const blocker = batcher2.submit([ids(1)]);
  const failed = [batcher2.submit([ids(2)]), batcher2.submit([ids(2)])].map((p) => assert.rejects(p, (e) => isCoalesceError(e) && e.kind === 'backend'));
  release();
  await within(blocker);
  await within(Promise.all(failed));
  assert.deepEqual(
    other.batches.map((b) => b.length),
    [1, 2],
    'the failed batch ran once',
  );
});
