/** Overload and client-disconnect behaviour, with a fake backend that can be held open. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../../src/core/batcher.js';
import { Embedder } from '../../../src/core/embedder.js';
import { createHttpApp } from '../../../src/transport/http/app.js';
import { charEncoder, FakeBackend, within } from '../../helpers/fake-backend.js';
import { waitFor } from '../../helpers/wait-for.js';

function setup(maxConcurrentRequests: number) {
  const backend = new FakeBackend();
  const batcher = new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 64 });
  const embedder = new Embedder(backend.info, charEncoder, batcher, { maxClientBatchSize: 32, autoTruncate: false }, maxConcurrentRequests);
  embedder.markReady(true);
  const app = createHttpApp({ embedder, ready: () => embedder.isReady, modelName: 'fake', payloadLimit: 1_000_000, info: () => ({}), metrics: () => '' });
  const embed = (inputs: string, init: RequestInit = {}) =>
    Promise.resolve(app.request('/embed', { method: 'POST', body: JSON.stringify({ inputs }), headers: { 'content-type': 'application/json' }, ...init }));
  return { backend, batcher, embedder, embed };
}

test('beyond --max-concurrent-requests a client gets 429 at once, and is served again once load drops', async () => {
  const { backend, embed } = setup(2);
  let open!: () => void;
  backend.gate = new Promise<void>((r) => (open = r));
  const held = [embed('aa'), embed('bb')];
  const refused = await within(embed('cc'), 1000, 'the overloaded request');
  assert.equal(refused.status, 429);
  assert.deepEqual(await refused.json(), {
    error: 'model is overloaded: 2 requests already in progress (--max-concurrent-requests)',
    error_type: 'Overloaded',
  });
  backend.gate = null;
  open();
  for (const r of await within(Promise.all(held))) assert.equal(r.status, 200);
  assert.equal((await within(embed('dd'))).status, 200);
});

test('a client that disconnects has its queued inputs dropped, and frees its permit', async () => {
  const { backend, embedder, embed } = setup(8);
  let open!: () => void;
  backend.gate = new Promise<void>((r) => (open = r));
  const blocker = embed('a');
  await waitFor(() => backend.batches.length === 1, { what: "the first request's batch reaching the model" });
  const controller = new AbortController();
  const gone = embed('zzzz', { signal: controller.signal });
  await waitFor(() => embedder.queueDepth === 1, { what: 'the second request waiting in the queue' });
  controller.abort();
  await within(gone.catch(() => undefined), 1000, 'the aborted request');
  await waitFor(() => embedder.admission.inUse === 1, { what: 'the permit of the disconnected request being freed' });
  backend.gate = null;
  open();
  await within(blocker);
  // A later request is batched after anything still queued: once it is answered, the dropped one had its chance.
  assert.equal((await within(embed('b'))).status, 200);
  const ran = backend.batches.flat().map((ids) => String.fromCharCode(...ids));
  assert.deepEqual(ran, ['a', 'b'], 'the disconnected request never reached the model');
  assert.equal(embedder.admission.inUse, 0);
});

test('/health is 503 until the model is ready', async () => {
  const { embedder } = setup(1);
  embedder.markReady(false);
  const app = createHttpApp({ embedder, ready: () => embedder.isReady, modelName: 'fake', payloadLimit: 1000, info: () => ({}), metrics: () => '' });
  const r = await app.request('/health');
  assert.equal(r.status, 503);
  assert.equal(((await r.json()) as { error_type: string }).error_type, 'Unhealthy');
});
