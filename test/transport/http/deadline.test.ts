/** x-request-timeout-ms over HTTP: 504 in TEI's error shape, inputs dropped, malformed headers refused. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../../src/core/batcher.js';
import { Embedder } from '../../../src/core/embedder.js';
import { serveDeps } from '../../helpers/http-deps.js';
import { charEncoder, FakeBackend, within } from '../../helpers/fake-backend.js';
import { waitFor } from '../../helpers/wait-for.js';

async function setup(t: TestContext) {
  const backend = new FakeBackend();
  const batcher = new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 64 });
  const embedder = new Embedder(backend.info, charEncoder, batcher, { maxClientBatchSize: 32, autoTruncate: false }, 8);
  embedder.markReady(true);
  const app = await serveDeps({ embedder, ready: () => embedder.isReady, modelName: 'fake', payloadLimit: 1_000_000, info: () => ({}), metrics: () => '' });
  t.after(() => app.close());
  const post = (path: string, body: object, headers: Record<string, string> = {}) =>
    app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  const ran = () => backend.batches.flat().map((ids) => String.fromCharCode(...ids));
  return { backend, embedder, post, ran };
}

test('a request past its x-request-timeout-ms gets 504 in the route error shape and never reaches the model', async (t) => {
  const { backend, embedder, post, ran } = await setup(t);
  const release = backend.hold();
  const blocker = post('/embed', { inputs: 'a' });
  await waitFor(() => ran().length === 1, { what: 'the blocker runs' });
  const tei = await within(post('/embed', { inputs: 'late' }, { 'x-request-timeout-ms': '80' }), 3000, 'the expired TEI request');
  assert.equal(tei.status, 504);
  assert.deepEqual(await tei.json(), { error: 'the request deadline passed before it was answered', error_type: 'Deadline' });
  const openai = await within(post('/v1/embeddings', { input: 'late2', model: 'fake' }, { 'x-request-timeout-ms': '80' }), 3000, 'the expired OpenAI request');
  assert.equal(openai.status, 504);
  const body = (await openai.json()) as { error: { type: string; message: string } };
  assert.match(body.error.message, /deadline/);
  assert.equal(embedder.admission.inUse, 1);
  release();
  assert.equal((await within(blocker)).status, 200);
  assert.equal((await within(post('/embed', { inputs: 'b' }, { 'x-request-timeout-ms': '60000' }))).status, 200);
  assert.deepEqual(ran(), ['a', 'b']);
});

test('a malformed x-request-timeout-ms is refused with 422 naming the header', async (t) => {
  const { post, ran } = await setup(t);
  for (const value of ['0', '-5', 'soon', '1.5', '99999999999']) {
    const r = await post('/embed', { inputs: 'a' }, { 'x-request-timeout-ms': value });
    assert.equal(r.status, 422, value);
    assert.match(((await r.json()) as { error: string }).error, /x-request-timeout-ms/);
  }
  assert.deepEqual(ran(), []);
});
