/** TEI 1.9 over HTTP: prompt_name on /embed and /tokenize, --default-prompt(-name), /tokenize offsets, x-compute-characters, /info. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Coalesce } from '../../../src/server.js';
import { assertClose, post, startServer, TINY_BERT } from '../../helpers/server.js';

let dir: string;
let server: Coalesce;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coalesce-tei-compat-'));
  cpSync(TINY_BERT, dir, { recursive: true });
  writeFileSync(
    join(dir, 'config_sentence_transformers.json'),
    JSON.stringify({ prompts: { query: 'query: ', passage: 'passage: ' }, default_prompt_name: null }),
  );
  server = await startServer([], dir);
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('/embed prompt_name: same vector and tokens as the prompt typed in; unknown names are 422 naming the known ones', async () => {
  const named = await post(server.httpUrl, '/embed', { inputs: ['hello world'], prompt_name: 'query' });
  const typed = await post(server.httpUrl, '/embed', { inputs: ['query: hello world'] });
  assert.equal(named.status, 200);
  assertClose(named.json[0], typed.json[0]);
  assert.equal(named.headers.get('x-compute-tokens'), typed.headers.get('x-compute-tokens'));
  assert.equal(named.headers.get('x-compute-characters'), '11', "the prompt is not the client's characters");
  const bad = await post(server.httpUrl, '/embed', { inputs: 'x', prompt_name: 'nope' });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.error_type, 'Validation');
  assert.match(bad.json.error, /"nope".*"query", "passage"/);
});

test('prompt tokens count against the input length limit, as in TEI', async () => {
  const words = Array.from({ length: 61 }, () => 'x').join(' '); // 61 + [CLS] [SEP] = 63 tokens
  assert.equal((await post(server.httpUrl, '/embed', { inputs: words, truncate: false })).status, 200);
  const prompted = await post(server.httpUrl, '/embed', { inputs: words, prompt_name: 'query', truncate: false });
  assert.equal(prompted.status, 422, JSON.stringify(prompted.json));
  assert.match(prompted.json.error, /at most 64 tokens/);
});

test('/tokenize: prompt_name, byte offsets and the input text of accented and emoji tokens', async () => {
  const r = await post(server.httpUrl, '/tokenize', { inputs: 'Café 😀', prompt_name: 'passage' });
  assert.equal(r.status, 200);
  assert.deepEqual(
    r.json[0].map((t: any) => [t.text, t.special, t.start, t.stop]),
    [
      ['[CLS]', true, null, null],
      ['passage', false, 0, 7],
      [':', false, 7, 8],
      ['Café', false, 9, 14],
      ['😀', false, 15, 19],
      ['[SEP]', true, null, null],
    ],
  );
});

test('x-compute-characters counts characters, not UTF-16 units', async () => {
  const r = await post(server.httpUrl, '/embed', { inputs: ['😀😀', 'é'] });
  assert.equal(r.headers.get('x-compute-characters'), '3');
  const o = await post(server.httpUrl, '/v1/embeddings', { input: ['😀😀', 'é'], model: 'x' });
  assert.equal(o.headers.get('x-compute-characters'), '3');
});

test("/info has TEI 1.9's fields; pooling is the model's, in-graph is its own flag", async () => {
  const info = (await (await fetch(server.httpUrl + '/info')).json()) as Record<string, any>;
  for (const key of [
    'model_id',
    'model_sha',
    'model_dtype',
    'model_type',
    'max_concurrent_requests',
    'max_input_length',
    'max_batch_tokens',
    'max_batch_requests',
    'max_client_batch_size',
    'auto_truncate',
    'tokenization_workers',
    'version',
    'sha',
    'docker_label',
  ]) {
    assert.ok(key in info, key);
  }
  assert.equal(info.model_id, dir);
  assert.equal(info.model_sha, null, 'a local folder has no Hub revision');
  assert.deepEqual(info.model_type, { embedding: { pooling: 'mean' } });
  assert.equal(typeof info.pooling_in_graph, 'boolean');
  assert.deepEqual(info.prompts, { query: 'query: ', passage: 'passage: ' });
  assert.equal(info.served_model_name, dir);
});

test('--default-prompt-name and --default-prompt apply to requests that name no prompt', async () => {
  const named = await startServer(['--default-prompt-name', 'query'], dir);
  // HTTP threads encode plain ASCII texts where they arrive: the facade must not take those bare encodings when a prompt applies.
  const text = await startServer(['--default-prompt', 'query: ', '--http-threads', '1'], dir);
  try {
    const expected = (await post(server.httpUrl, '/embed', { inputs: 'hello', prompt_name: 'query' })).json[0];
    assertClose((await post(named.httpUrl, '/embed', { inputs: 'hello' })).json[0], expected);
    assertClose((await post(text.httpUrl, '/embed', { inputs: 'hello' })).json[0], expected);
    assertClose((await post(text.httpUrl, '/embed', { inputs: 'hello', prompt_name: 'query' })).json[0], expected);
    const passage = (await post(server.httpUrl, '/embed', { inputs: 'hello', prompt_name: 'passage' })).json[0];
    assertClose(
      (await post(named.httpUrl, '/embed', { inputs: 'hello', prompt_name: 'passage' })).json[0],
      passage,
      1e-5,
      1e-4,
      'a named prompt replaces the default',
    );
    const bare = (await post(server.httpUrl, '/embed', { inputs: 'hello' })).json[0];
    assert.ok(
      bare.some((v: number, i: number) => Math.abs(v - expected[i]) > 1e-3),
      'the prompt changes the vector',
    );
  } finally {
    await Promise.all([named.close(), text.close()]);
  }
  await assert.rejects(startServer(['--default-prompt-name', 'nope'], dir), /"nope".*"query", "passage"/);
});
