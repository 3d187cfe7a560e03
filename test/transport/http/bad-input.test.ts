/** Client mistakes are 4xx with a body naming the problem, never a 5xx or a stack overflow. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Coalesce } from '../../../src/server.js';
import { post, startServer } from '../../helpers/server.js';

let server: Coalesce;
before(async () => {
  server = await startServer();
});
after(() => server.close());

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

test('a field holding 20,000 nested arrays is a 422 validation error', async () => {
  for (const body of [
    `{"inputs":"hi","dimensions":${nested(20_000)}}`,
    `{"inputs":${nested(20_000)}}`,
    `{"inputs":"hi","truncation_direction":${nested(20_000)}}`,
  ]) {
    const r = await post(server.httpUrl, '/embed', body);
    assert.equal(r.status, 422, JSON.stringify(r.json));
    assert.equal(r.json.error_type, 'Validation');
    assert.match(r.json.error, /nests deeper/);
  }
  const openai = await post(server.httpUrl, '/v1/embeddings', `{"input":"hi","encoding_format":${nested(5000)}}`);
  assert.equal(openai.status, 400); // OpenAI answers invalid requests 400
  assert.equal(openai.json.error.type, 'invalid_request_error');
});

test('a moderately nested wrong type is named without echoing the value', async () => {
  const r = await post(server.httpUrl, '/embed', `{"inputs":"hi","dimensions":${nested(20)}}`);
  assert.equal(r.status, 422);
  assert.match(r.json.error, /`dimensions` must be an integer/);
});

test('error messages quote at most a bounded stretch of a huge client string', async () => {
  const r = await post(server.httpUrl, '/embed', { inputs: 'hi', truncation_direction: 'x'.repeat(100_000) });
  assert.equal(r.status, 422);
  assert.ok(r.json.error.length < 400, `${r.json.error.length} characters`);
  assert.match(r.json.error, /truncation_direction/);
});
