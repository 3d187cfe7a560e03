/** Two models in one process: each has its own queue and batcher; admission is shared with per-model caps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission } from '../../src/core/admission.js';
import { Batcher } from '../../src/core/batcher.js';
import { Embedder } from '../../src/core/embedder.js';
import { charEncoder, FakeBackend, within } from '../helpers/fake-backend.js';
import { waitFor } from '../helpers/wait-for.js';

function model(shared: Admission, name: string, delayMs: number, limit = Number.POSITIVE_INFINITY) {
  const backend = new FakeBackend();
  backend.delayMs = delayMs;
  const batcher = new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 8 });
  const embedder = new Embedder(
    backend.info,
    charEncoder,
    batcher,
    { maxClientBatchSize: 32, autoTruncate: false },
    new Admission(limit, shared, `max-concurrent of model ${name}`),
  );
  embedder.markReady(true);
  return { backend, embedder };
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

async function timed(embedder: Embedder, text: string): Promise<number> {
  const started = performance.now();
  await embedder.embed({ inputs: [text], normalize: true });
  return performance.now() - started;
}

test("a slow model under load does not hold back a fast model's requests", async () => {
  const shared = new Admission(10_000);
  const SLOW_MS = 400;
  const slow = model(shared, 'slow', SLOW_MS);
  const fast = model(shared, 'fast', 0);
  // The slow model busy: its one batch slot taken and a queue behind it, refilled as batches end.
  let stop = false;
  const slowLoad = Array.from({ length: 32 }, async () => {
    while (!stop) await slow.embedder.embed({ inputs: ['slow input'], normalize: true });
  });
  await waitFor(() => slow.backend.batches.length >= 1, { what: 'the slow model running a batch' });
  const fastLatencies: number[] = [];
  for (let round = 0; round < 10; round++) {
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => timed(fast.embedder, `fast ${round} ${i}`)));
    fastLatencies.push(...burst);
  }
  const slowBatchesDuring = slow.backend.batches.length;
  stop = true;
  await within(Promise.all(slowLoad), 10_000, 'the slow load to finish');
  // Behind a slow batch, a fast request would wait at least SLOW_MS; on its own queue it waits for none.
  assert.ok(p99(fastLatencies) < SLOW_MS / 2, `fast p99 ${p99(fastLatencies).toFixed(1)} ms is not well under one slow batch (${SLOW_MS} ms)`);
  assert.ok(slowBatchesDuring >= 1 && fast.backend.batches.length >= 10, 'both models ran batches');
  assert.equal(shared.inUse, 0);
});

test('admission is shared: a model over its own cap is refused naming it, the server cap names --max-concurrent-requests', async () => {
  const shared = new Admission(6);
  const a = model(shared, 'a', 0, 4);
  const b = model(shared, 'b', 0);
  const releaseA = a.backend.hold();
  const releaseB = b.backend.hold();
  const heldA = Array.from({ length: 4 }, (_, i) => a.embedder.embed({ inputs: [`a${i}`], normalize: true }));
  await assert.rejects(a.embedder.embed({ inputs: ['a5'], normalize: true }), /4 requests already in progress \(max-concurrent of model a\)/);
  const heldB = Array.from({ length: 2 }, (_, i) => b.embedder.embed({ inputs: [`b${i}`], normalize: true }));
  assert.equal(shared.inUse, 6);
  await assert.rejects(b.embedder.embed({ inputs: ['b3'], normalize: true }), /6 requests already in progress \(--max-concurrent-requests\)/);
  assert.equal(a.embedder.admission.inUse, 4, "each model's count is its own");
  assert.equal(b.embedder.admission.inUse, 2);
  releaseA();
  releaseB();
  await within(Promise.all([...heldA, ...heldB]));
  assert.equal(shared.inUse, 0);
});
