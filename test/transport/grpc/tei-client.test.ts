/**
 * tei.v1 as a TEI user meets it: a client generated at test time from TEI 1.9.3's own tei.proto
 * (test/fixtures/tei-proto) with @grpc/proto-loader + @grpc/grpc-js, against a real server whose
 * model declares prompts and has no Normalize module (so normalization is visible).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Coalesce } from '../../../src/server.js';
import { assertClose, post, startServer, TINY_BERT } from '../../helpers/server.js';
import { call, client } from './client.js';

const PROMPTS = { query: 'query: ', passage: 'passage: ' };
let dir: string;
let server: Coalesce;
let tei: any;
const clients: grpc.Client[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coalesce-tei-client-'));
  cpSync(TINY_BERT, dir, { recursive: true });
  writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: PROMPTS, default_prompt_name: null }));
  // Without its Normalize module the model returns raw pooled vectors: `normalize` then shows.
  writeFileSync(
    join(dir, 'modules.json'),
    JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]),
  );
  // --auto-truncate false: one test here is about refusing long inputs (TEI 1.9 truncates by default).
  server = await startServer(['--auto-truncate', 'false'], dir);
  const definition = protoLoader.loadSync(join('test', 'fixtures', 'tei-proto', 'tei.proto'), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  tei = (grpc.loadPackageDefinition(definition) as any).tei.v1;
});
after(async () => {
  for (const c of clients) c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function stub(service: string): any {
  const c = new tei[service](server.grpcUrl!, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

function unary<T = any>(c: any, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => c[method](request, (e: grpc.ServiceError | null, r: T) => (e ? reject(e) : resolve(r))));
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('the call succeeded but was expected to fail');
}

const norm = (v: number[]) => Math.hypot(...v);

async function httpEmbed(body: object): Promise<number[]> {
  const r = await post(server.httpUrl, '/embed', body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json[0];
}

test('Embed with only `inputs` set normalizes (TEI >= 1.8: an unset normalize is true)', async () => {
  const embed = stub('Embed');
  const r = await unary(embed, 'Embed', { inputs: 'hello world' });
  assert.equal(r.embeddings.length, 32);
  assert.ok(Math.abs(norm(r.embeddings) - 1) < 1e-5, `norm ${norm(r.embeddings)}`);
  const raw = await unary(embed, 'Embed', { inputs: 'hello world', normalize: false });
  assert.ok(Math.abs(norm(raw.embeddings) - 1) > 0.01, `normalize false gives the raw vector (norm ${norm(raw.embeddings)})`);
  assertClose(raw.embeddings, await httpEmbed({ inputs: 'hello world', normalize: false }));
  assert.equal(r.metadata.compute_tokens, 4);
  assert.equal(r.metadata.compute_chars, 11);
});

test('Embed honours dimensions: the first n values, normalized again', async () => {
  const embed = stub('Embed');
  const r = await unary(embed, 'Embed', { inputs: 'hello world', dimensions: 8 });
  assert.equal(r.embeddings.length, 8);
  assert.ok(Math.abs(norm(r.embeddings) - 1) < 1e-5);
  assertClose(r.embeddings, await httpEmbed({ inputs: 'hello world', dimensions: 8 }));
  const raw = await unary(embed, 'Embed', { inputs: 'hello world', dimensions: 8, normalize: false });
  const full = await unary(embed, 'Embed', { inputs: 'hello world', normalize: false });
  assertClose(raw.embeddings, full.embeddings.slice(0, 8));
  const e = await failure(unary(embed, 'Embed', { inputs: 'x', dimensions: 33 }));
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  assert.match(e.details, /dimensions/);
});

test('Embed and Tokenize apply prompt_name: the prompt goes in front of the input and its tokens count', async () => {
  const embed = stub('Embed');
  const withPrompt = await unary(embed, 'Embed', { inputs: 'hello world', prompt_name: 'query' });
  const prepended = await unary(embed, 'Embed', { inputs: 'query: hello world' });
  assertClose(withPrompt.embeddings, prepended.embeddings);
  assert.equal(withPrompt.metadata.compute_tokens, prepended.metadata.compute_tokens);
  assert.ok(withPrompt.metadata.compute_tokens > 4);
  assert.equal(withPrompt.metadata.compute_chars, 11, 'compute_chars counts the input, as TEI does');
  assertClose(withPrompt.embeddings, await httpEmbed({ inputs: 'hello world', prompt_name: 'query' }));

  const tokens = (await unary(stub('Tokenize'), 'Tokenize', { inputs: 'hello', add_special_tokens: true, prompt_name: 'passage' })).tokens;
  assert.deepEqual(
    tokens.map((t: any) => t.text),
    ['[CLS]', 'passage', ':', 'hello', '[SEP]'],
  );
  assert.deepEqual([tokens[3].start, tokens[3].stop], [9, 14], 'offsets are in the prompted input');

  // coalesce.v1 takes the same prompt names.
  const batch = client(server.grpcUrl!, 'coalesce', 'Coalesce');
  clients.push(batch);
  const packed = await call(batch, 'EmbedBatch', { inputs: ['hello world'], prompt_name: 'query' });
  assert.equal(packed.metadata.compute_tokens, withPrompt.metadata.compute_tokens);
  assertClose(new Float32Array(Uint8Array.from(packed.embeddings).buffer), withPrompt.embeddings);

  const e = await failure(unary(embed, 'Embed', { inputs: 'x', prompt_name: 'nope' }));
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  assert.match(e.details, /"nope".*"query", "passage"/);
});

test('Embed honours truncate and truncation_direction; without truncate a long input is INVALID_ARGUMENT', async () => {
  const embed = stub('Embed');
  const long = Array.from({ length: 80 }, (_, i) => `word${i % 7} w${i}`).join(' ');
  const e = await failure(unary(embed, 'Embed', { inputs: long }));
  assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
  assert.match(e.details, /at most 64 tokens/);
  const right = await unary(embed, 'Embed', { inputs: long, truncate: true });
  const left = await unary(embed, 'Embed', { inputs: long, truncate: true, truncation_direction: 'TRUNCATION_DIRECTION_LEFT' });
  assert.equal(right.metadata.compute_tokens, 64);
  assertClose(right.embeddings, await httpEmbed({ inputs: long, truncate: true, truncation_direction: 'Right' }));
  assertClose(left.embeddings, await httpEmbed({ inputs: long, truncate: true, truncation_direction: 'Left' }));
  assert.ok(
    right.embeddings.some((v: number, i: number) => Math.abs(v - left.embeddings[i]) > 1e-3),
    'left and right keep different tokens',
  );
});

test('EmbedStream answers in order with the same defaults', async () => {
  const stream = stub('Embed').EmbedStream();
  const out: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (m: any) => out.push(m));
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  for (const inputs of ['one', 'two words', 'three words here']) stream.write({ inputs, dimensions: 4 });
  stream.end();
  await done;
  assert.deepEqual(
    out.map((m) => m.embeddings.length),
    [4, 4, 4],
  );
  assert.deepEqual(
    out.map((m) => m.metadata.compute_chars),
    [3, 9, 16],
  );
});

test('Tokenize gives byte offsets and the input text of accented and emoji tokens', async () => {
  const text = 'Café 😀 ok';
  const { tokens } = await unary(stub('Tokenize'), 'Tokenize', { inputs: text, add_special_tokens: true });
  const plain = tokens.map((t: any) => [t.text, t.special, t.start ?? null, t.stop ?? null]);
  assert.deepEqual(plain, [
    ['[CLS]', true, null, null],
    ['Café', false, 0, 5],
    ['😀', false, 6, 10],
    ['ok', false, 11, 13],
    ['[SEP]', true, null, null],
  ]);
  const bytes = Buffer.from(text);
  for (const t of tokens.filter((t: any) => !t.special)) assert.equal(bytes.subarray(t.start, t.stop).toString(), t.text);
});

test('Info reports the model; methods for other model kinds answer FAILED_PRECONDITION naming what the model is', async () => {
  const info = await unary(stub('Info'), 'Info', {});
  assert.equal(info.model_type, 'MODEL_TYPE_EMBEDDING');
  assert.equal(info.max_input_length, 64);
  assert.equal(info.model_dtype, 'float32');

  const embed = stub('Embed');
  for (const [c, method, request] of [
    [embed, 'EmbedSparse', { inputs: 'x' }],
    [stub('Predict'), 'Predict', { inputs: 'x' }],
    [stub('Predict'), 'PredictPair', { inputs: ['a', 'b'] }],
    [stub('Rerank'), 'Rerank', { query: 'q', texts: ['a'] }],
  ] as const) {
    const e = await failure(unary(c, method, request));
    assert.equal(e.code, grpc.status.FAILED_PRECONDITION, method);
    assert.match(e.details, /^model is not .*: this server's model is an embedding model/, method);
  }
  // A streaming one ends the stream with the status.
  const stream = embed.EmbedSparseStream();
  const e = await new Promise<grpc.ServiceError>((resolve) => {
    stream.on('error', resolve);
    stream.on('data', () => {});
    stream.write({ inputs: 'x' });
    stream.end();
  });
  assert.equal(e.code, grpc.status.FAILED_PRECONDITION);
  assert.match(e.details, /not a sparse \(SPLADE\) model/);
  // And the server still serves.
  assert.equal((await unary(embed, 'Embed', { inputs: 'still here' })).embeddings.length, 32);
});
