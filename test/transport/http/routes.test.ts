/** The HTTP API against the real server on an ephemeral port with the tiny BERT fixture. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Coalesce } from '../../../src/server.js';
import { cosine, post, startServer } from '../../helpers/server.js';

let server: Coalesce;
before(async () => {
  // --auto-truncate false: these tests are about refusing inputs over the limit (TEI 1.9 truncates by default).
  server = await startServer(['--max-client-batch-size', '4', '--payload-limit', '2000', '--auto-truncate', 'false']);
});
after(() => server.close());

const teiError = (r: { status: number; json: any }, status: number, type: string, mentions: string) => {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.error_type, type);
  assert.match(r.json.error, new RegExp(mentions));
};

test('GET /health is 200 once warm, /info shows the model and the effective config', async () => {
  assert.equal((await fetch(server.httpUrl + '/health')).status, 200);
  const info = (await (await fetch(server.httpUrl + '/info')).json()) as any;
  assert.equal(info.dimensions, 32);
  assert.equal(info.max_input_length, 64);
  assert.equal(info.max_client_batch_size, 4);
  assert.equal(info.config.payloadLimit, 2000);
  assert.equal(info.config.maxBatchTokens, 16384);
  assert.equal(info.execution_provider, 'cpu');
});

test('POST /embed accepts a string or a list, and dimensions cuts before normalizing', async () => {
  const one = await post(server.httpUrl, '/embed', { inputs: 'hello world' });
  assert.equal(one.status, 200);
  assert.equal(one.json.length, 1);
  assert.equal(one.json[0].length, 32);
  assert.ok(Math.abs(Math.hypot(...one.json[0]) - 1) < 1e-5);
  assert.equal(one.headers.get('x-compute-tokens'), '4');
  for (const h of ['x-total-time', 'x-tokenization-time', 'x-queue-time', 'x-inference-time']) assert.ok(one.headers.get(h) !== null, h);

  const cut = await post(server.httpUrl, '/embed', { inputs: ['hello world'], dimensions: 8 });
  assert.equal(cut.json[0].length, 8);
  assert.ok(Math.abs(Math.hypot(...cut.json[0]) - 1) < 1e-5, 'the cut vector is normalized again');
  const raw = await post(server.httpUrl, '/embed', { inputs: ['hello world'], normalize: false });
  const expected = raw.json[0].slice(0, 8);
  assert.ok(cosine(cut.json[0], expected) > 0.99999, 'dimensions keeps the leading components');
});

test("errors use TEI's shape and statuses", async () => {
  teiError(await post(server.httpUrl, '/embed', { inputs: [] }), 400, 'Empty', 'cannot be empty');
  teiError(await post(server.httpUrl, '/embed', '{"inputs": ['), 400, 'BadRequest', 'not valid JSON');
  teiError(await post(server.httpUrl, '/embed', { inputs: [1, 'a'] }), 422, 'Validation', '`inputs` must be a string, a list of strings, a list of token ids');
  teiError(await post(server.httpUrl, '/embed', { inputs: 'x', normalize: 'yes' }), 422, 'Validation', 'normalize');
  teiError(await post(server.httpUrl, '/embed', { text: 'x' }), 422, 'Validation', '`inputs` is required');
  teiError(
    await post(server.httpUrl, '/embed', { inputs: ['a', 'b', 'c', 'd', 'e'] }),
    422,
    'Validation',
    'at most 4 elements \\(--max-client-batch-size\\)\\. Given: 5',
  );
  teiError(await post(server.httpUrl, '/embed', { inputs: 'word '.repeat(100) }), 422, 'Validation', 'at most 64 tokens');
  teiError(await post(server.httpUrl, '/embed', { inputs: 'x', dimensions: 33 }), 422, 'Validation', 'dimensions');
  teiError(await post(server.httpUrl, '/embed', { inputs: 'x', truncation_direction: 'up' }), 422, 'Validation', 'truncation_direction');
  teiError(await post(server.httpUrl, '/embed', { inputs: 'x'.repeat(3000) }), 413, 'PayloadTooLarge', 'payload limit');
  teiError(await post(server.httpUrl, '/nowhere', {}), 404, 'NotFound', 'no route');
  // The server is still serving after all of that.
  assert.equal((await post(server.httpUrl, '/embed', { inputs: 'still alive' })).status, 200);
});

test('truncate=true cuts long inputs instead of refusing them', async () => {
  const r = await post(server.httpUrl, '/embed', { inputs: 'word '.repeat(100), truncate: true });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-compute-tokens'), '64');
});

test('POST /tokenize and /decode', async () => {
  const t = await post(server.httpUrl, '/tokenize', { inputs: ['Hello world'], add_special_tokens: false });
  assert.deepEqual(
    t.json[0].map((x: { id: number }) => x.id),
    [7592, 2088],
  );
  assert.deepEqual(t.json[0][0], { id: 7592, text: 'Hello', special: false, start: 0, stop: 5 });
  const d = await post(server.httpUrl, '/decode', { ids: [101, 7592, 2088, 102] });
  assert.deepEqual(d.json, ['hello world']);
});

test("OpenAI route: float and base64 give the same vectors, usage counts tokens, errors in OpenAI's shape", async () => {
  const f = await post(server.httpUrl, '/v1/embeddings', { input: ['hello world', 'a'], model: 'anything', encoding_format: 'float' });
  assert.equal(f.status, 200);
  assert.equal(f.json.object, 'list');
  assert.deepEqual(
    f.json.data.map((d: { index: number; object: string }) => [d.index, d.object]),
    [
      [0, 'embedding'],
      [1, 'embedding'],
    ],
  );
  assert.deepEqual(f.json.usage, { prompt_tokens: 7, total_tokens: 7 });
  const b = await post(server.httpUrl, '/v1/embeddings', { input: 'hello world', model: 'x', encoding_format: 'base64' });
  const decoded = new Float32Array(new Uint8Array(Buffer.from(b.json.data[0].embedding, 'base64')).buffer);
  assert.ok(cosine(decoded, f.json.data[0].embedding) > 0.9999999);

  const bad = await post(server.httpUrl, '/v1/embeddings', { input: 'x', encoding_format: 'int4' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, 'encoding_format');
  assert.equal(bad.json.error.type, 'invalid_request_error');
  const image = await post(server.httpUrl, '/v1/embeddings', { input: 'aGVsbG8=', modality: 'image' });
  assert.equal(image.status, 400);
  assert.equal(image.json.error.param, 'modality');
  const big = await post(server.httpUrl, '/v1/embeddings', { input: 'x'.repeat(3000) });
  assert.equal(big.status, 413);
  assert.ok(big.json.error.message.includes('payload limit'));
});

test('the official openai client works unchanged (base64 by default, and float)', async () => {
  const client = new OpenAI({ baseURL: server.httpUrl + '/v1', apiKey: 'unused', maxRetries: 0 });
  const res = await client.embeddings.create({ model: 'tiny-bert', input: ['hello world', 'the quick brown fox'] });
  assert.equal(res.data.length, 2);
  assert.equal(res.data[0].embedding.length, 32);
  const tei = await post(server.httpUrl, '/embed', { inputs: ['hello world'] });
  assert.ok(cosine(res.data[0].embedding, tei.json[0]) > 0.99999);
  const asFloat = await client.embeddings.create({ model: 'tiny-bert', input: 'hello world', encoding_format: 'float', dimensions: 16 });
  assert.equal(asFloat.data[0].embedding.length, 16);
  await assert.rejects(client.embeddings.create({ model: 'tiny-bert', input: [] }), (e: { status?: number }) => e.status === 400);
});
