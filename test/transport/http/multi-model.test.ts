/** Routing between several models over HTTP, with fake backends: OpenAI's `model`, x-model, /models/<name>/, listings, health. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../../src/core/batcher.js';
import { DevicePool } from '../../../src/core/device-pool.js';
import { Embedder } from '../../../src/core/embedder.js';
import { ModelRegistry } from '../../../src/core/model-registry.js';
import { CoalesceError } from '../../../src/errors.js';
import type { HttpDeps, HttpModel } from '../../../src/transport/http/app.js';
import { serveDeps } from '../../helpers/http-deps.js';
import { charEncoder, FakeBackend } from '../../helpers/fake-backend.js';

/** A model whose vectors say which model made them: [length, first id, marker, 0]. */
function fakeModel(name: string, marker: number, devices = 1) {
  const backends = Array.from({ length: devices }, () => {
    const b = new FakeBackend();
    const embed = b.embed.bind(b);
    b.embed = async (batch) => {
      const r = await embed(batch);
      for (const v of r.vectors) v[2] = marker;
      return r;
    };
    return b;
  });
  const pool = new DevicePool(
    backends.map((backend, i) => ({ device: `cpu${i}`, backend })),
    name,
  );
  const embedder = new Embedder(
    pool.info,
    charEncoder,
    new Batcher(pool, { maxBatchTokens: 10_000, maxBatchRequests: 8 }),
    { maxClientBatchSize: 32, autoTruncate: false },
    100,
  );
  embedder.markReady(true);
  const model: HttpModel = { name, embedder, info: () => ({ model_id: name, marker }), listing: { kind: 'embed', dimensions: 4, device: pool.info.device } };
  return { model, pool, backends, embedder };
}

async function serve(t: TestContext) {
  const a = fakeModel('alpha', 1);
  const b = fakeModel('beta', 2, 2);
  const models = new ModelRegistry([a.model, b.model], 'alpha');
  const deps: HttpDeps = {
    embedder: a.embedder,
    modelName: 'alpha',
    payloadLimit: 1_000_000,
    ready: () => a.pool.healthy && b.pool.healthy,
    info: () => ({ default: 'alpha', models: models.names }),
    metrics: () => '',
    models,
  };
  const app = await serveDeps(deps);
  t.after(() => app.close());
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
    return { status: res.status, json: (await res.json()) as any };
  };
  return { app, post, a, b };
}

test("OpenAI routes pick the model by `model`; an unknown one is a 404 in OpenAI's shape naming the served models", async (t) => {
  const { post } = await serve(t);
  const alpha = await post('/v1/embeddings', { model: 'alpha', input: 'hi', encoding_format: 'float' });
  const beta = await post('/v1/embeddings', { model: 'beta', input: 'hi', encoding_format: 'float' });
  assert.equal(alpha.status, 200);
  assert.equal(alpha.json.model, 'alpha');
  assert.equal(beta.json.model, 'beta');
  assert.notDeepEqual(alpha.json.data[0].embedding, beta.json.data[0].embedding, 'each model answered its own request');
  const unknown = await post('/v1/embeddings', { model: 'gamma', input: 'hi' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.type, 'invalid_request_error');
  assert.equal(unknown.json.error.param, 'model');
  assert.match(unknown.json.error.message, /`gamma` does not exist: this server serves `alpha`, `beta`/);
});

test('TEI routes serve the default model, another by the x-model header or under /models/<name>/', async (t) => {
  const { post } = await serve(t);
  const marker = (r: { json: number[][] }) => r.json[0][2];
  const plain = await post('/embed', { inputs: 'hello', normalize: false });
  assert.equal(plain.status, 200);
  assert.equal(marker(plain), 1);
  assert.equal(marker(await post('/embed', { inputs: 'hello', normalize: false }, { 'x-model': 'beta' })), 2);
  assert.equal(marker(await post('/models/beta/embed', { inputs: 'hello', normalize: false })), 2);
  assert.equal(marker(await post('/models/alpha/embed', { inputs: 'hello', normalize: false })), 1);
  assert.equal(marker(await post('/models/beta', { inputs: 'hello', normalize: false })), 2, "the model's own POST /");
  const unknown = await post('/embed', { inputs: 'hello' }, { 'x-model': 'gamma' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error_type, 'NotFound');
  assert.match(unknown.json.error, /`gamma` does not exist: this server serves `alpha`, `beta`/);
  assert.equal((await post('/models/gamma/embed', { inputs: 'hello' })).status, 404);
});

test('/v1/models lists every model with its facts; /info per model by header or path', async (t) => {
  const { app } = await serve(t);
  const list = (await (await app.request('/v1/models')).json()) as any;
  assert.deepEqual(
    list.data.map((m: any) => [m.id, m.object, m.kind, m.device]),
    [
      ['alpha', 'model', 'embed', 'cpu0'],
      ['beta', 'model', 'embed', 'cpu0,cpu1'],
    ],
  );
  assert.deepEqual(await (await app.request('/info')).json(), { default: 'alpha', models: ['alpha', 'beta'] });
  assert.deepEqual(await (await app.request('/info', { headers: { 'x-model': 'beta' } })).json(), { model_id: 'beta', marker: 2 });
  assert.deepEqual(await (await app.request('/models/alpha/info')).json(), { model_id: 'alpha', marker: 1 });
  assert.equal((await app.request('/info', { headers: { 'x-model': 'nope' } })).status, 404);
});

test('/health stays 200 while a model has a live device, and turns 503 when its last one fails', async (t) => {
  const { app, post, b } = await serve(t);
  const dead = () => {
    throw new CoalesceError('unhealthy', 'a model worker exited (code 1)');
  };
  b.backends[0].embed = async () => dead();
  const served = await post('/embed', { inputs: ['one', 'two', 'three'], normalize: false }, { 'x-model': 'beta' });
  assert.equal(served.status, 200, "the failed device's batch was retried on the other");
  assert.equal(served.json.length, 3);
  assert.equal((await app.request('/health')).status, 200);
  b.backends[1].embed = async () => dead();
  assert.equal((await post('/embed', { inputs: 'x' }, { 'x-model': 'beta' })).status, 503);
  assert.equal((await app.request('/health')).status, 503);
  assert.equal((await post('/embed', { inputs: 'x' })).status, 200, 'the other model still serves');
});
