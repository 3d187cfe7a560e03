/** coalesce.v1 EmbedBatch output encodings against the real server (tiny BERT fixture): the same codes as HTTP gives. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Coalesce } from '../../../src/server.js';
import { post, startServer } from '../../helpers/server.js';
import { call, client, failure, status, type Client } from './client.js';

let server: Coalesce;
let batch: Client;

before(async () => {
  server = await startServer();
  batch = client(server.grpcUrl!, 'coalesce', 'Coalesce');
});
after(() => {
  batch.close();
  return server.close();
});

const TEXTS = ['hello world', 'The quick brown fox jumps over the lazy dog.', 'a'];

/** The response's rows as lists of integers of the given byte type. */
function rows(r: any, Type: typeof Int8Array | typeof Uint8Array): number[][] {
  const bytes: Uint8Array<ArrayBuffer> = r.embeddings;
  const all = new Type(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: r.rows }, (_, i) => [...all.subarray(i * r.row_bytes, (i + 1) * r.row_bytes)]);
}

test('a request without an encoding gets float32 rows as before (FLOAT, 4 bytes per dimension)', async () => {
  const r = await call(batch, 'EmbedBatch', { inputs: TEXTS });
  const dims = server.embedder.info.dimensions;
  assert.equal(r.encoding, 0);
  assert.equal(r.dimensions, dims);
  assert.equal(r.row_bytes, dims * 4);
  assert.equal(r.embeddings.length, TEXTS.length * dims * 4);
});

test('INT8, UINT8, BINARY and UBINARY rows hold what /embed gives for the same encoding', async () => {
  const cases = [
    { encoding: 1, name: 'int8', Type: Int8Array },
    { encoding: 2, name: 'uint8', Type: Uint8Array },
    { encoding: 3, name: 'binary', Type: Int8Array },
    { encoding: 4, name: 'ubinary', Type: Uint8Array },
  ] as const;
  for (const { encoding, name, Type } of cases) {
    for (const dimensions of [undefined, 12]) {
      const r = await call(batch, 'EmbedBatch', { inputs: TEXTS, encoding, dimensions });
      const http = await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: name, dimensions });
      assert.equal(r.encoding, encoding);
      assert.equal(r.dimensions, dimensions ?? server.embedder.info.dimensions);
      assert.deepEqual(rows(r, Type), http.json, `${name}, dimensions ${dimensions}`);
    }
  }
  const packed = await call(batch, 'EmbedBatch', { inputs: TEXTS, encoding: 4, dimensions: 12 });
  assert.equal(packed.row_bytes, 2);
});

test('request ranges travel in the message; bad ones and unknown encodings are INVALID_ARGUMENT', async () => {
  const dims = server.embedder.info.dimensions;
  const ranges = { min: Array(dims).fill(-0.25), max: Array(dims).fill(0.25) };
  const r = await call(batch, 'EmbedBatch', { inputs: TEXTS, encoding: 2, ranges });
  const http = await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: 'uint8', ranges });
  assert.deepEqual(rows(r, Uint8Array), http.json);
  const short = await failure(call(batch, 'EmbedBatch', { inputs: TEXTS, encoding: 1, ranges: { min: [0], max: [1] } }));
  assert.equal(short.code, status.INVALID_ARGUMENT);
  assert.match(short.details, /`ranges` must have `min` and `max`/);
  const unknown = await failure(call(batch, 'EmbedBatch', { inputs: TEXTS, encoding: 9 }));
  assert.equal(unknown.code, status.INVALID_ARGUMENT);
  assert.match(unknown.details, /`encoding` 9 is not a coalesce.v1.Encoding/);
});
