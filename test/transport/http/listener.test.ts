/**
 * The one request path (listener.ts): routing by method and path, bodies with or without a
 * Content-Length, the JSON content type, the payload limit, requests without a Host header, and a
 * client that goes away.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../helpers/wait-for.js';
import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Batcher } from '../../../src/core/batcher.js';
import { Embedder } from '../../../src/core/embedder.js';
import type { HttpDeps } from '../../../src/transport/http/app.js';
import { createHttpServer, isJsonType } from '../../../src/transport/http/listener.js';
import { charEncoder, FakeBackend, within } from '../../helpers/fake-backend.js';

const LIMIT = 400;
const backend = new FakeBackend();
const embedder = new Embedder(
  backend.info,
  charEncoder,
  new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 64 }),
  { maxClientBatchSize: 3, autoTruncate: false },
  16,
);
embedder.markReady(true);
const deps: HttpDeps = { embedder, ready: () => true, modelName: 'fake', payloadLimit: LIMIT, info: () => ({ ok: 1 }), metrics: () => '' };

let server: Server;
let url: string;
let port: number;
before(async () => {
  server = createHttpServer(deps);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
});
after(() => {
  server.close();
  server.closeAllConnections();
});

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

/** Over the socket, with a Content-Length unless `chunked`. */
function send(method: string, path: string, body: string | null, headers: Record<string, string> = {}, chunked = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const all: Record<string, string | number> = { 'content-type': 'application/json', ...headers };
    if (body !== null) {
      if (chunked) all['transfer-encoding'] = 'chunked';
      else all['content-length'] = Buffer.byteLength(body);
    }
    const req = request(url + path, { method, headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: pick(res.headers), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body !== null && chunked) {
      req.write(body.slice(0, 3));
      req.write(body.slice(3));
    } else if (body !== null) req.write(body);
    req.end();
  });
}

/** The headers that do not depend on timing. */
function pick(h: IncomingHttpHeaders | Record<string, string>): Record<string, string | undefined> {
  const keep = ['content-type', 'x-embedding-count', 'x-embedding-dimensions', 'x-compute-tokens', 'x-compute-characters', 'x-compute-type'];
  return Object.fromEntries(keep.map((k) => [k, h[k] as string | undefined]));
}

/** Sends `raw` over a plain socket and gives back everything the server wrote until it closed. */
function rawExchange(raw: string): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(raw));
      let text = '';
      socket
        .setEncoding('latin1')
        .on('data', (d: string) => (text += d))
        .on('end', () => resolve(text))
        .on('error', reject);
    }),
    5000,
    'the raw exchange',
  );
}

test('chunked bodies answer as bodies with a Content-Length; query strings do not change the route', async () => {
  const plain = await send('POST', '/embed', '{"inputs":"hello"}');
  assert.equal(plain.status, 200);
  const chunked = await send('POST', '/embed', '{"inputs":"hello"}', {}, true);
  assert.deepEqual([chunked.status, chunked.body], [200, plain.body]);
  assert.deepEqual((await send('POST', '/embed?x=1', '{"inputs":"hello"}')).body, plain.body);
});

test("unknown routes and methods are 404 with TEI's JSON error; HEAD answers as GET without a body", async () => {
  for (const [method, path] of [
    ['GET', '/embed'],
    ['POST', '/nowhere'],
    ['PUT', '/embed'],
    ['POST', '/health'],
  ]) {
    const r = await send(method, path, method === 'GET' ? null : '{}');
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(JSON.parse(r.body.toString()).error_type, 'NotFound');
  }
  const head = await send('HEAD', '/health', null);
  assert.deepEqual([head.status, head.body.length], [200, 0]);
});

test("JSON routes take only a JSON content type: anything else is 415 with a JSON error, in the route's style", async () => {
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const r = await send('POST', '/embed', '{"inputs":"hello"}', { 'content-type': type });
    assert.equal(r.status, 415, type);
    assert.deepEqual(JSON.parse(r.body.toString()).error_type, 'UnsupportedMediaType');
    assert.match(JSON.parse(r.body.toString()).error, /application\/json/);
  }
  const openai = await send('POST', '/v1/embeddings', '{"input":"hello"}', { 'content-type': 'text/plain' });
  assert.equal(openai.status, 415);
  assert.equal(JSON.parse(openai.body.toString()).error.type, 'invalid_request_error');
  // Without any Content-Type (Node's client sends none unless told).
  const none = await new Promise<number>((resolve, reject) => {
    const req = request(url + '/embed', { method: 'POST', headers: { 'content-length': 2 } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject).end('{}');
  });
  assert.equal(none, 415);
  for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/vnd.api+json']) {
    assert.equal((await send('POST', '/embed', '{"inputs":"hello"}', { 'content-type': type })).status, 200, type);
  }
  assert.equal(isJsonType('application/jsonx'), false);
});

test('bodies over the payload limit are 413, by Content-Length or while a chunked body streams', async () => {
  const big = `{"inputs":"${'x'.repeat(LIMIT)}"}`;
  for (const chunked of [false, true]) {
    const r = await send('POST', '/embed', big, {}, chunked);
    assert.equal(r.status, 413, `chunked: ${chunked}`);
    assert.equal(JSON.parse(r.body.toString()).error_type, 'PayloadTooLarge');
  }
});

test("requests without a Host header (HTTP/1.0 health checks, HAProxy's default) are answered", async () => {
  const ten = await rawExchange('GET /health HTTP/1.0\r\n\r\n');
  assert.match(ten, /^HTTP\/1\.1 200 /);
  const eleven = await rawExchange('GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.match(eleven, /^HTTP\/1\.1 200 /);
  const body = '{"inputs":"hi"}';
  const posted = await rawExchange(`POST /embed HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  assert.match(posted, /^HTTP\/1\.1 200 /);
  assert.match(posted, /\r\n\r\n\[\[/);
});

test('a client that goes away while its request waits has its input dropped and its permit freed', async () => {
  let open!: () => void;
  backend.gate = new Promise<void>((r) => (open = r));
  backend.batches.length = 0;
  const blocker = send('POST', '/embed', '{"inputs":"a"}');
  await waitFor(() => embedder.admission.inUse === 1, { what: 'the first request admitted' });
  const body = '{"inputs":"zzzz"}';
  const req = request(url + '/embed', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } });
  req.on('error', () => {});
  req.end(body);
  await waitFor(() => embedder.admission.inUse === 2, { what: 'the second request admitted' });
  req.destroy();
  await waitFor(() => embedder.admission.inUse === 1, { what: "the gone client's permit freed" });
  backend.gate = null;
  open();
  assert.equal((await within(blocker)).status, 200);
  // Nothing holds a permit once every admitted input has run or been dropped.
  await waitFor(() => embedder.admission.inUse === 0, { what: 'every permit freed' });
  assert.deepEqual(
    backend.batches.flat().map((ids) => String.fromCharCode(...ids)),
    ['a'],
    'the request that went away never reached the model',
  );
  assert.equal(embedder.admission.inUse, 0);
});
