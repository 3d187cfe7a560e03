/** LangChain's OpenAIEmbeddings with configuration.baseURL pointed at the server. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAIEmbeddings } from '@langchain/openai';
import type { Coalesce } from '../../src/server.js';
import { assertClose, post, startServer } from '../helpers/server.js';

let server: Coalesce;

before(async () => {
  server = await startServer();
});
after(() => server.close());

test("embedDocuments and embedQuery give the server's vectors", async () => {
  const embeddings = new OpenAIEmbeddings({ model: 'any', apiKey: 'unused', maxRetries: 0, configuration: { baseURL: `${server.httpUrl}/v1` } });
  const docs = ['hello world', 'Crème brûlée', 'the third one'];
  const got = await embeddings.embedDocuments(docs);
  const tei = (await post(server.httpUrl, '/embed', { inputs: docs })).json as number[][];
  assert.equal(got.length, 3);
  got.forEach((v, i) => assertClose(v, tei[i]));
  assertClose(await embeddings.embedQuery('hello world'), tei[0]);
});

test('dimensions passes through', async () => {
  const embeddings = new OpenAIEmbeddings({ model: 'any', apiKey: 'unused', maxRetries: 0, dimensions: 8, configuration: { baseURL: `${server.httpUrl}/v1` } });
  const v = await embeddings.embedQuery('hello world');
  assert.equal(v.length, 8);
});
