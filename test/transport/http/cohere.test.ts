/** Cohere's v2 embed API (`POST /v2/embed`) against the real server (tiny BERT with prompts named as Cohere's input types). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Coalesce } from '../../../src/server.js';
import { promptForInputType } from '../../../src/transport/http/cohere-routes.js';
import { assertClose, post, startServer, TINY_BERT } from '../../helpers/server.js';

let dir: string;
let server: Coalesce;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coalesce-cohere-'));
  cpSync(TINY_BERT, dir, { recursive: true });
  writeFileSync(
    join(dir, 'config_sentence_transformers.json'),
    JSON.stringify({ prompts: { search_query: 'search_query: ', passage: 'passage: ' }, default_prompt_name: null }),
  );
  server = await startServer(['--grpc-port', '-1', '--max-input-length', '16'], dir);
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const TEXTS = ['hello world', 'The quick brown fox jumps over the lazy dog.'];

test('the response has Cohere v2 shape: id, embeddings by type, texts, meta with billed input tokens', async () => {
  const types = ['float', 'int8', 'uint8', 'binary', 'ubinary', 'base64'];
  const r = await post(server.httpUrl, '/v2/embed', { model: 'embed-v4.0', texts: TEXTS, input_type: 'clustering', embedding_types: types });
  assert.equal(r.status, 200);
  assert.match(r.json.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(Object.keys(r.json.embeddings), types);
  assert.deepEqual(r.json.texts, TEXTS);
  assert.equal(r.json.response_type, 'embeddings_by_type');
  assert.equal(r.json.meta.api_version.version, '2');
  const openai = await post(server.httpUrl, '/v1/embeddings', { input: TEXTS, encoding_format: 'float' });
  assert.equal(r.json.meta.billed_units.input_tokens, openai.json.usage.prompt_tokens);
  // Every type from the one model call, as each other route gives it.
  const { embeddings } = r.json;
  embeddings.float.forEach((v: number[], i: number) => assertClose(v, openai.json.data[i].embedding));
  for (const type of ['int8', 'uint8', 'binary', 'ubinary']) {
    const tei = await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: type });
    assert.deepEqual(embeddings[type], tei.json, type);
  }
  embeddings.base64.forEach((b64: string, i: number) => {
    const bytes = Buffer.from(b64, 'base64');
    const decoded = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    assert.deepEqual([...decoded], embeddings.float[i].map(Math.fround));
  });
});

test('embedding_types defaults to float; output_dimension cuts and normalizes again', async () => {
  const plain = await post(server.httpUrl, '/v2/embed', { texts: TEXTS, input_type: 'classification' });
  assert.deepEqual(Object.keys(plain.json.embeddings), ['float']);
  const cut = await post(server.httpUrl, '/v2/embed', {
    texts: TEXTS,
    input_type: 'classification',
    embedding_types: ['float', 'ubinary'],
    output_dimension: 8,
  });
  assert.equal(cut.status, 200);
  for (const v of cut.json.embeddings.float) {
    assert.equal(v.length, 8);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
  }
  assert.deepEqual(
    cut.json.embeddings.ubinary.map((row: number[]) => row.length),
    [1, 1],
  );
});

test("input_type picks the model's prompt of that name, or its alias (search_document -> passage), else none", async () => {
  const embedOf = async (body: object) => (await post(server.httpUrl, '/v2/embed', { texts: ['hello world'], ...body })).json.embeddings.float[0];
  const tei = async (text: string) => (await post(server.httpUrl, '/embed', { inputs: [text] })).json[0];
  assertClose(await embedOf({ input_type: 'search_query' }), await tei('search_query: hello world'));
  assertClose(await embedOf({ input_type: 'search_document' }), await tei('passage: hello world'));
  assertClose(await embedOf({ input_type: 'clustering' }), await tei('hello world'));
  assert.equal(promptForInputType('search_document', ['document', 'passage']), 'document');
  assert.equal(promptForInputType('classification', ['query']), undefined);
});

test('truncate: END (default) and START cut over-long texts from either end; NONE refuses them, naming texts[i]', async () => {
  const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
  const end = await post(server.httpUrl, '/v2/embed', { texts: [long], input_type: 'clustering' });
  assert.equal(end.status, 200);
  const right = await post(server.httpUrl, '/embed', { inputs: [long], truncate: true, truncation_direction: 'Right' });
  assertClose(end.json.embeddings.float[0], right.json[0]);
  const start = await post(server.httpUrl, '/v2/embed', { texts: [long], input_type: 'clustering', truncate: 'START' });
  const left = await post(server.httpUrl, '/embed', { inputs: [long], truncate: true, truncation_direction: 'Left' });
  assertClose(start.json.embeddings.float[0], left.json[0]);
  const none = await post(server.httpUrl, '/v2/embed', { texts: ['short', long], input_type: 'clustering', truncate: 'NONE' });
  assert.equal(none.status, 400);
  assert.equal(none.json.param, 'texts');
  assert.match(none.json.message, /`texts\[1\]` must have at most 16 tokens.*Set `truncate` to "END" or "START"/);
});

test('bad requests: 400 with a message naming the field', async () => {
  const cases: [object, RegExp, string][] = [
    [{ texts: 'hello' }, /`texts` must be a list of strings/, 'texts'],
    [{}, /`texts` is required/, 'texts'],
    [{ texts: ['x'], embedding_types: ['int4'] }, /`embedding_types\[0\]` must be one of "float", "base64", "int8"/, 'embedding_types'],
    [{ texts: ['x'], embedding_types: [] }, /`embedding_types` must name at least one/, 'embedding_types'],
    [{ texts: ['x'], input_type: 'image' }, /`input_type` must be "search_query"/, 'input_type'],
    [{ texts: ['x'], truncate: 'MIDDLE' }, /`truncate` must be "NONE", "START" or "END"/, 'truncate'],
    [{ texts: ['x'], output_dimension: 100000 }, /`output_dimension` must be an integer between 1 and/, 'output_dimension'],
    [{ texts: ['x'], images: ['data:'] }, /unknown field `images`/, 'images'],
    [{ texts: [] }, /`texts` cannot be empty/, 'texts'],
    [{ texts: ['x'], embedding_types: ['int8'], ranges: { min: [0], max: [1] } }, /`ranges` must have `min` and `max`/, 'ranges'],
  ];
  for (const [body, message, param] of cases) {
    const r = await post(server.httpUrl, '/v2/embed', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.json.message, message, JSON.stringify(body));
    assert.equal(r.json.param, param, JSON.stringify(body));
  }
});
