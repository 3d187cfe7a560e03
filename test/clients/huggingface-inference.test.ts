/** @huggingface/inference pointed at the server's URL, as against a TEI Inference Endpoint. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceClient } from '@huggingface/inference';
import type { Coalesce } from '../../src/server.js';
import { assertClose, cosine, post, startServer } from '../helpers/server.js';

let server: Coalesce;

before(async () => {
  server = await startServer();
});
after(() => server.close());

test('featureExtraction against the endpoint URL (POST /)', async () => {
  const client = new InferenceClient(undefined, { endpointUrl: server.httpUrl });
  const out = (await client.featureExtraction({ inputs: ['hello world', 'good morning'] })) as number[][];
  const tei = (await post(server.httpUrl, '/embed', { inputs: ['hello world', 'good morning'] })).json as number[][];
  out.forEach((v, i) => assertClose(v, tei[i]));
});

test('sentenceSimilarity against /similarity', async () => {
  const client = new InferenceClient(undefined, { endpointUrl: `${server.httpUrl}/similarity` });
  const scores = await client.sentenceSimilarity({ inputs: { source_sentence: 'hello world', sentences: ['hello world', 'stock markets fell'] } });
  const [a, b, c] = (await post(server.httpUrl, '/embed', { inputs: ['hello world', 'hello world', 'stock markets fell'] })).json as number[][];
  assert.equal(scores.length, 2);
  assert.ok(Math.abs(scores[0] - cosine(a, b)) < 1e-4 && Math.abs(scores[1] - cosine(a, c)) < 1e-4);
});
