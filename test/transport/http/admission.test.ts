/** Overload and client-disconnect behaviour, with a fake backend that can be held open. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../../src/core/batcher.js';
import { Embedder } from '../../../src/core/embedder.js';
import { serveDeps } from '../../helpers/http-deps.js';
import { charEncoder, FakeBackend, within } from '../../helpers/fake-backend.js';

async function setup(maxConcurrentRequests: number, t: TestContext) {
  const backend = new FakeBackend();
  const batcher = new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 64 });
  const embedder = new Embedder(backend.info, charEncoder, batcher, { maxClientBatchSize: 32, autoTruncate: false }, maxConcurrentRequests);
  embedder.markReady(true);
  const app = await serveDeps({ embedder, ready: () => embedder.isReady, modelName: 'fake', payloadLimit: 1_000_000, info: () => ({}), metrics: () => '' });
  t.after(() => app.close());
  const embed = (inputs: string, init: RequestInit = {}) =>
    app.request('/embed', { method: 'POST', body: JSON.stringify({ inputs }), headers: { 'content-type': 'application/json' }, ...init });
  return { backend, batcher, embedder, embed, app };
}

test('beyond --max-concurrent-requests a client gets 429 at once, and is served again once load drops', async (t) => {
  const { backend, embed } = await setup(2, t);
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

// A client that goes away over the socket: test/transport/http/listener.test.ts.

test('/health is 503 until the model is ready', async (t) => {
  const { embedder, app } = await setup(1, t);
  embedder.markReady(false);
  const r = await app.request('/health');
  assert.equal(r.status, 503);
  assert.equal(((await r.json()) as { error_type: string }).error_type, 'Unhealthy');
});
