/**
 * The Node fast lane against hono alone: the same requests get the same answers either way, the
 * lane takes only what it should, and a client that goes away is still noticed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Batcher } from '../../../src/core/batcher.js';
import { Embedder } from '../../../src/core/embedder.js';
import { createHttpApp, jsonRoutes, type HttpDeps } from '../../../src/transport/http/app.js';
import { fastLane } from '../../../src/transport/http/fast-lane.js';
import { charEncoder, FakeBackend, within } from '../../helpers/fake-backend.js';
import { waitFor } from '../../helpers/wait-for.js';

const LIMIT = 400;
const backend = new FakeBackend();
const embedder = new Embedder(backend.info, charEncoder, new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 64 }), { maxClientBatchSize: 3, autoTruncate: false }, 16);
embedder.markReady(true);
const deps: HttpDeps = { embedder, ready: () => true, modelName: 'fake', payloadLimit: LIMIT, info: () => ({ ok: 1 }), metrics: () => '' };
const routes = jsonRoutes(deps);
const app = createHttpApp(deps, routes);
const honoListener = getRequestListener(app.fetch);
let fallbacks: string[] = [];

let server: Server;
let url: string;
before(async () => {
  server = createServer(
    fastLane(routes, LIMIT, (req, res) => {
      fallbacks.push(`${req.method} ${req.url}`);
      return honoListener(req, res);
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

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

/** Through hono alone, without Node's request and response (app.request). */
async function viaHono(method: string, path: string, body: string | null, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await app.request(path, { method, body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: r.status, headers: pick(Object.fromEntries(r.headers)), body: Buffer.from(await r.arrayBuffer()) };
}

/** The headers that do not depend on timing. */
function pick(h: IncomingHttpHeaders | Record<string, string>): Record<string, string | undefined> {
  const keep = ['content-type', 'x-embedding-count', 'x-embedding-dimensions', 'x-compute-tokens', 'x-compute-characters', 'x-compute-type'];
  return Object.fromEntries(keep.map((k) => [k, h[k] as string | undefined]));
}

const REQUESTS: [path: string, body: string, headers?: Record<string, string>][] = [
  ['/embed', '{"inputs":"hello"}'],
  ['/embed', '{"inputs":["ab","cde"],"normalize":false}', { accept: 'application/octet-stream' }],
  ['/embed', '{"inputs":"hello","dimensions":2}'],
  ['/v1/embeddings', '{"input":["ab","c"],"model":"m"}'],
  ['/embeddings', '{"input":"ab","encoding_format":"base64"}'],
  ['/embed', '{"inputs": ['],
  ['/embed', ''],
  ['/embed', '[1]'],
  ['/embed', '{"inputs":["a","b","c","d"]}'],
  ['/v1/embeddings', '{"input":"a","encoding_format":"hex"}'],
  ['/v1/embeddings', `{"input":"${'x'.repeat(LIMIT)}"}`],
  ['/embed', `{"inputs":"${'x'.repeat(LIMIT)}"}`],
];

test('the fast lane answers every JSON route as hono does, errors included, and hono is not asked', async () => {
  fallbacks = [];
  for (const [path, body, headers] of REQUESTS) {
    const lane = await send('POST', path, body, headers);
    const hono = await viaHono('POST', path, body, headers);
    const what = `${path} ${body.slice(0, 40)}`;
    assert.equal(lane.status, hono.status, what);
    assert.deepEqual(lane.headers, hono.headers, what);
    assert.deepEqual(lane.body, hono.body, what);
  }
  assert.deepEqual(fallbacks, []);
  // The cases above cover successes and each error shape, not only one.
  const statuses = new Set((await Promise.all(REQUESTS.map(([p, b, h]) => send('POST', p, b, h)))).map((a) => a.status));
  assert.deepEqual([...statuses].sort(), [200, 400, 413, 422]);
});

test('chunked bodies, query strings, other methods and other routes go to hono', async () => {
  fallbacks = [];
  const chunked = await send('POST', '/embed', '{"inputs":"hello"}', {}, true);
  assert.equal(chunked.status, 200);
  assert.deepEqual(chunked.body, (await send('POST', '/embed', '{"inputs":"hello"}')).body);
  assert.equal((await send('POST', '/embed?x=1', '{"inputs":"hello"}')).status, 200);
  assert.equal((await send('GET', '/health', null)).status, 200);
  assert.equal((await send('GET', '/embed', null)).status, 404);
  assert.equal((await send('POST', '/nowhere', '{}')).status, 404);
  assert.deepEqual(fallbacks, ['POST /embed', 'POST /embed?x=1', 'GET /health', 'GET /embed', 'POST /nowhere']);
});

test('a client that goes away while its request waits has its input dropped and its permit freed', async () => {
  let open!: () => void;
  backend.gate = new Promise<void>((r) => (open = r));
  backend.batches.length = 0;
  const blocker = send('POST', '/embed', '{"inputs":"a"}');
  await waitFor(() => backend.batches.length === 1, { what: "the first request's batch reaching the model" });
  const body = '{"inputs":"zzzz"}';
  const req = request(url + '/embed', { method: 'POST', headers: { 'content-length': body.length } });
  req.on('error', () => {});
  req.end(body);
  await waitFor(() => embedder.admission.inUse === 2 && embedder.queueDepth === 1, { what: 'the second request waiting in the queue' });
  req.destroy();
  await waitFor(() => embedder.admission.inUse === 1, { what: 'the permit of the request that went away being freed' });
  backend.gate = null;
  open();
  assert.equal((await within(blocker)).status, 200);
  // A later request is batched after anything still queued: once it is answered, the dropped one had its chance.
  assert.equal((await within(send('POST', '/embed', '{"inputs":"b"}'))).status, 200);
  assert.deepEqual(backend.batches.flat().map((ids) => String.fromCharCode(...ids)), ['a', 'b'], 'the request that went away never reached the model');
  assert.equal(embedder.admission.inUse, 0);
});
