/**
 * Drop-in compatibility with TEI 1.9.3 and OpenAI on the real server (tiny BERT fixture): TEI's
 * other routes, token-id inputs, OpenAI's model list and statuses, unknown fields, and the
 * OpenAPI document and docs page.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { Coalesce } from '../../../src/server.js';
import { cosine, post, startServer } from '../../helpers/server.js';

let server: Coalesce;
before(async () => {
  // Long inputs refused unless the request says truncate, to test the limit.
  server = await startServer(['--max-client-batch-size', '4', '--payload-limit', '4000', '--auto-truncate', 'false']);
});
after(() => server.close());

const get = (path: string, headers: Record<string, string> = {}) => fetch(server.httpUrl + path, { headers });

test("TEI's POST / and POST /invocations embed as /embed (@huggingface/inference featureExtraction with an endpointUrl)", async () => {
  const embed = await post(server.httpUrl, '/embed', { inputs: ['hello world'] });
  for (const path of ['/', '/invocations']) {
    const r = await post(server.httpUrl, path, { inputs: 'hello world' });
    assert.equal(r.status, 200, path);
    assert.deepEqual(r.json, embed.json, path);
  }
});

test('GET /ping answers as /health', async () => {
  assert.equal((await get('/ping')).status, 200);
  assert.equal((await get('/health')).status, 200);
});

test('POST /similarity: the cosine of the source sentence with each sentence, as TEI', async () => {
  const sentences = ['hello world', 'a cat sat', 'hello world'];
  const r = await post(server.httpUrl, '/similarity', { inputs: { source_sentence: 'hello world', sentences }, parameters: { truncate: true } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const vectors = (await post(server.httpUrl, '/embed', { inputs: ['hello world', ...sentences] })).json as number[][];
  assert.equal(r.json.length, 3);
  sentences.forEach((_, i) => assert.ok(Math.abs(r.json[i] - cosine(vectors[0], vectors[i + 1])) < 1e-5, `sentence ${i}`));
  assert.ok(Math.abs(r.json[0] - 1) < 1e-5);
  const bad = await post(server.httpUrl, '/similarity', { inputs: { source_sentence: 'x' } });
  assert.equal(bad.status, 422);
  assert.match(bad.json.error, /`inputs\.sentences` is required/);
});

test('token-id inputs: TEI and OpenAI, checked against the vocabulary and the length limit, truncated when asked', async () => {
  // "hello world" is [101, 7592, 2088, 102] in the fixture's vocabulary.
  const text = await post(server.httpUrl, '/embed', { inputs: 'hello world' });
  const ids = await post(server.httpUrl, '/embed', { inputs: [101, 7592, 2088, 102] });
  assert.equal(ids.status, 200, JSON.stringify(ids.json));
  assert.ok(cosine(ids.json[0], text.json[0]) > 0.99999);
  const lists = await post(server.httpUrl, '/embed', {
    inputs: [
      [101, 7592, 2088, 102],
      [101, 102],
    ],
  });
  assert.equal(lists.json.length, 2);
  assert.ok(cosine(lists.json[0], text.json[0]) > 0.99999);

  const openai = await post(server.httpUrl, '/v1/embeddings', { input: [[101, 7592, 2088, 102]], model: 'm' });
  assert.equal(openai.status, 200);
  assert.ok(cosine(openai.json.data[0].embedding, text.json[0]) > 0.99999);
  assert.deepEqual(openai.json.usage, { prompt_tokens: 4, total_tokens: 4 });

  const outside = await post(server.httpUrl, '/embed', { inputs: [101, 999999] });
  assert.equal(outside.status, 422);
  assert.match(outside.json.error, /token id 999999, outside the vocabulary \(0 to 30521\)/);
  const long = Array.from({ length: 100 }, () => 7592);
  const tooLong = await post(server.httpUrl, '/embed', { inputs: long });
  assert.equal(tooLong.status, 422);
  assert.match(tooLong.json.error, /at most 64 tokens. Given: 100/);
  const cut = await post(server.httpUrl, '/embed', { inputs: long, truncate: true });
  assert.equal(cut.status, 200);
  assert.equal(cut.headers.get('x-compute-tokens'), '64');
  const negative = await post(server.httpUrl, '/embed', { inputs: [-1] });
  assert.equal(negative.status, 422);
});

test("OpenAI's GET /v1/models and /models list the served model", async () => {
  for (const path of ['/v1/models', '/models']) {
    const body = (await (await get(path)).json()) as { object: string; data: { id: string; object: string; created: number; owned_by: string }[] };
    assert.equal(body.object, 'list');
    assert.equal(body.data.length, 1);
    assert.equal(body.data[0].object, 'model');
    assert.equal(typeof body.data[0].id, 'string');
    assert.ok(Number.isInteger(body.data[0].created) && body.data[0].created > 1.7e9);
    assert.equal(typeof body.data[0].owned_by, 'string');
  }
});

test("OpenAI routes answer limits 400 in OpenAI's terms (`input`, no `truncate`); TEI routes 422", async () => {
  const many = await post(server.httpUrl, '/v1/embeddings', { input: ['a', 'b', 'c', 'd', 'e'] });
  assert.equal(many.status, 400);
  assert.equal(many.json.error.param, 'input');
  assert.match(many.json.error.message, /`input` must have at most 4 elements/);
  const long = await post(server.httpUrl, '/v1/embeddings', { input: 'word '.repeat(100) });
  assert.equal(long.status, 400);
  assert.match(long.json.error.message, /`input\[0\]` must have at most 64 tokens/);
  assert.doesNotMatch(long.json.error.message, /`truncate`|`inputs/);
  const tei = await post(server.httpUrl, '/embed', { inputs: ['a', 'b', 'c', 'd', 'e'] });
  assert.equal(tei.status, 422);
  assert.equal(tei.json.error_type, 'Validation');
});

test('unknown fields: ignored on TEI routes (as TEI), refused on OpenAI routes naming the field; `user` is accepted', async () => {
  assert.equal((await post(server.httpUrl, '/embed', { inputs: 'x', surprise: 1 })).status, 200);
  const openai = await post(server.httpUrl, '/v1/embeddings', { input: 'x', surprise: 1 });
  assert.equal(openai.status, 400);
  assert.equal(openai.json.error.param, 'surprise');
  assert.match(openai.json.error.message, /unknown field `surprise`/);
  assert.equal((await post(server.httpUrl, '/v1/embeddings', { input: 'x', user: 'someone', model: 'm' })).status, 200);
  // A known field of the wrong type is refused, naming it.
  const prompt = await post(server.httpUrl, '/embed', { inputs: 'x', prompt_name: 3 });
  assert.equal(prompt.status, 422);
  assert.match(prompt.json.error, /`prompt_name` must be a string/);
});

test('GET /openapi.json and /api-doc/openapi.json: a valid OpenAPI 3.1 document of every route', async () => {
  const doc = (await (await get('/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
  assert.deepEqual(await (await get('/api-doc/openapi.json')).json(), doc);
  assert.equal(doc.openapi, '3.1.0');
  for (const path of [
    '/',
    '/embed',
    '/invocations',
    '/similarity',
    '/tokenize',
    '/decode',
    '/v1/embeddings',
    '/embeddings',
    '/health',
    '/ping',
    '/v1/models',
    '/v2/embed',
  ]) {
    assert.ok(doc.paths[path], path);
  }
  await SwaggerParser.validate(structuredClone(doc) as never);
  // The request schemas are the validating ones: the document knows /embed's fields.
  const schema = (doc as unknown as { components: { schemas: Record<string, { properties: Record<string, unknown> }> } }).components.schemas.EmbedRequest;
  assert.deepEqual(Object.keys(schema.properties).sort(), [
    'dimensions',
    'encoding_format',
    'inputs',
    'normalize',
    'prompt_name',
    'ranges',
    'truncate',
    'truncation_direction',
  ]);
});

test('GET /docs loads Swagger UI from the server itself, no outside asset', async () => {
  const page = await get('/docs');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length >= 3, html);
  for (const ref of refs) {
    assert.doesNotMatch(ref, /^(https?:)?\/\//, `outside asset ${ref}`);
    const asset = await fetch(new URL(ref, server.httpUrl + '/docs'));
    assert.equal(asset.status, 200, ref);
    assert.ok((await asset.arrayBuffer()).byteLength > 0, ref);
  }
  const init = await (await fetch(new URL('docs/init.js', server.httpUrl + '/docs'))).text();
  assert.match(init, /url: 'openapi\.json'/);
});
