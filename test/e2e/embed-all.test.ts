/**
 * /embed_all on a dense embedding model: each token's state (the output the model pools), checked
 * against PyTorch through what sentence-transformers computes from the same states: their mean is
 * its mean pooling, the first one its CLS pooling (test/fixtures/tiny-bert/reference.json).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Coalesce } from '../../src/server.js';
import { assertClose, post, startServer, TINY_BERT } from '../helpers/server.js';

const ref = JSON.parse(readFileSync(join(TINY_BERT, 'reference.json'), 'utf8'));
// Texts with at least one word: the empty and blank ones are refused or all special tokens.
const picked = [0, 1, 2, 7, 10];
let server: Coalesce;

before(async () => {
  server = await startServer([]);
});
after(() => server.close());

function mean(tokens: number[][]): number[] {
  return tokens[0].map((_, d) => tokens.reduce((sum, t) => sum + t[d], 0) / tokens.length);
}

test('/embed_all answers one state per token: their mean and first match mean and CLS pooling by PyTorch', async () => {
  const res = await post(server.httpUrl, '/embed_all', { inputs: picked.map((i) => ref.sentences[i]) });
  assert.equal(res.status, 200, JSON.stringify(res.json).slice(0, 300));
  res.json.forEach((tokens: number[][], k: number) => {
    const i = picked[k];
    assert.equal(tokens.length, ref.input_ids[i].length, `tokens of sentence ${i}`);
    assertClose(mean(tokens), ref.mean[i], 1e-5, 1e-4, `mean of sentence ${i}`);
    assertClose(tokens[0], ref.cls[i], 1e-5, 1e-4, `first token of sentence ${i}`);
  });
  // Pooled requests on the same sessions are unchanged beside it.
  const [pooled, states] = await Promise.all([
    post(server.httpUrl, '/embed', { inputs: ref.sentences[1], normalize: false }),
    post(server.httpUrl, '/embed_all', { inputs: ref.sentences[1] }),
  ]);
  assertClose(pooled.json[0], ref.mean[1], 1e-5, 1e-4, 'pooled');
  assertClose(mean(states.json[0]), ref.mean[1], 1e-5, 1e-4, 'states');
});

test('tei.v1 EmbedAll answers the same states', async () => {
  const definition = protoLoader.loadSync(join('test', 'fixtures', 'tei-proto', 'tei.proto'), { keepCase: true, longs: Number, enums: String, defaults: true });
  const tei = (grpc.loadPackageDefinition(definition) as any).tei.v1;
  const client = new tei.Embed(server.grpcUrl!, grpc.credentials.createInsecure());
  try {
    const out: any = await new Promise((resolve, reject) =>
      client.EmbedAll({ inputs: ref.sentences[2] }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))),
    );
    const tokens = out.token_embeddings.map((t: { embeddings: number[] }) => t.embeddings);
    assert.equal(tokens.length, ref.input_ids[2].length);
    assertClose(mean(tokens), ref.mean[2], 1e-5, 1e-4, 'gRPC mean');
  } finally {
    client.close();
  }
});
