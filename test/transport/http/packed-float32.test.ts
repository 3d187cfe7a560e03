import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Coalesce } from '../../../src/server.js';
import { acceptsPackedFloat32 } from '../../../src/transport/http/encode.js';
import { post, startServer } from '../../helpers/server.js';

let app: Coalesce;
before(async () => {
  app = await startServer(['--grpc-port', '-1']);
});
after(() => app.close());

const TEXTS = ['Hello world', 'The quick brown fox jumps over the lazy dog.', 'a'];

test('Accept: application/octet-stream returns the same vectors as JSON, as packed little-endian float32 rows', async () => {
  const json = await post(app.httpUrl, '/embed', { inputs: TEXTS, normalize: false });
  assert.equal(json.status, 200);
  const res = await fetch(app.httpUrl + '/embed', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/octet-stream' },
    body: JSON.stringify({ inputs: TEXTS, normalize: false }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  const dims = Number(res.headers.get('x-embedding-dimensions'));
  assert.equal(Number(res.headers.get('x-embedding-count')), TEXTS.length);
  assert.equal(dims, app.embedder.info.dimensions);
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert.equal(bytes.byteLength, TEXTS.length * dims * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < TEXTS.length; i++) {
    for (let d = 0; d < dims; d++) {
      // JSON carries enough digits to give back the exact float32.
      assert.equal(view.getFloat32((i * dims + d) * 4, true), Math.fround(json.json[i][d]), `vector ${i}[${d}]`);
    }
  }
});

test('dimensions cuts the packed rows too; errors stay JSON', async () => {
  const res = await fetch(app.httpUrl + '/embed', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/octet-stream' },
    body: JSON.stringify({ inputs: TEXTS, dimensions: 8 }),
  });
  assert.equal(Number(res.headers.get('x-embedding-dimensions')), 8);
  assert.equal((await res.arrayBuffer()).byteLength, TEXTS.length * 8 * 4);
  const bad = await fetch(app.httpUrl + '/embed', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/octet-stream' },
    body: '{"inputs": []}',
  });
  assert.equal(bad.status, 400);
  assert.match(bad.headers.get('content-type') ?? '', /json/);
});

test('the Accept header picks packed float32 only when it comes before JSON', () => {
  assert.equal(acceptsPackedFloat32(undefined), false);
  assert.equal(acceptsPackedFloat32('*/*'), false);
  assert.equal(acceptsPackedFloat32('application/json'), false);
  assert.equal(acceptsPackedFloat32('application/octet-stream'), true);
  assert.equal(acceptsPackedFloat32('Application/Octet-Stream, application/json;q=0.5'), true);
  assert.equal(acceptsPackedFloat32('application/json, application/octet-stream'), false);
});
