/** The official `openai` SDK against a real server: what an OpenAI user's code does, unchanged but for baseURL. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Coalesce } from '../../src/server.js';
import { assertClose, post, startServer } from '../helpers/server.js';

let server: Coalesce;
let client: OpenAI;

before(async () => {
  server = await startServer();
  client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => server.close());

const TEXTS = ['hello world', 'Crème brûlée 🙂'];

test('embeddings.create with float: one normalized vector per input, usage counted', async () => {
  const r = await client.embeddings.create({ model: 'any', input: TEXTS, encoding_format: 'float' });
  assert.equal(r.object, 'list');
  assert.deepEqual(
    r.data.map((d) => d.index),
    [0, 1],
  );
  const tei = (await post(server.httpUrl, '/embed', { inputs: TEXTS })).json as number[][];
  r.data.forEach((d, i) => assertClose(d.embedding, tei[i]));
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.total_tokens === r.usage.prompt_tokens);
});

test('embeddings.create with the SDK default (base64): the SDK decodes the same vectors', async () => {
  const float = await client.embeddings.create({ model: 'any', input: 'hello world', encoding_format: 'float' });
  const b64 = await client.embeddings.create({ model: 'any', input: 'hello world' });
  assertClose(b64.data[0].embedding, float.data[0].embedding, 1e-6, 1e-6);
});

test('embeddings.create with dimensions: shortened and normalized again; too many is a 4xx the SDK raises', async () => {
  const r = await client.embeddings.create({ model: 'any', input: 'hello world', dimensions: 8, encoding_format: 'float' });
  assert.equal(r.data[0].embedding.length, 8);
  assert.ok(Math.abs(Math.hypot(...r.data[0].embedding) - 1) < 1e-5);
  await assert.rejects(
    client.embeddings.create({ model: 'any', input: 'x', dimensions: 33 }),
    (e: unknown) => e instanceof OpenAI.APIError && e.status !== undefined && e.status >= 400 && e.status < 500,
  );
});

test('models.list() names the served model', async () => {
  const models = await client.models.list();
  assert.ok(models.data.some((m) => m.id === 'test/fixtures/tiny-bert'));
});
