/**
 * Closing the gRPC server tells each connection to go with a GOAWAY that refuses no stream (the
 * highest stream id) before the final one, so a call a client or proxy sent just before is served
 * rather than refused (graceful-goaway.ts), and the listener closes at once.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { Batcher } from '../../../src/core/batcher.js';
import { Embedder } from '../../../src/core/embedder.js';
import { startGrpcServer, type GrpcServer } from '../../../src/transport/grpc/server.js';
import { charEncoder, FakeBackend } from '../../helpers/fake-backend.js';
import { waitFor, within } from '../../helpers/wait-for.js';

const MAX_STREAM_ID = 2 ** 31 - 1;

let server: GrpcServer | null = null;
let session: ClientHttp2Session | null = null;
afterEach(async () => {
  session?.destroy();
  await server?.close(100);
  server = session = null;
});

async function start(): Promise<GrpcServer> {
  const backend = new FakeBackend();
  const batcher = new Batcher(backend, { maxBatchTokens: 100_000, maxBatchRequests: 256 });
  const embedder = new Embedder(backend.info, charEncoder, batcher, { maxClientBatchSize: 32, autoTruncate: false }, 64, {
    requestStarted() {},
    requestFinished() {},
  });
  embedder.markReady(true);
  const info = {
    model_id: 'fake',
    model_dtype: 'float32',
    version: 'test',
    dimensions: backend.info.dimensions,
    max_input_length: backend.info.maxInputLength,
    pooling: backend.info.pooling,
    normalized_by_model: false,
    device: 'cpu',
    execution_provider: 'fake',
    modalities: ['text'] as const,
    max_concurrent_requests: 64,
    max_batch_tokens: 100_000,
    max_batch_requests: 256,
    max_client_batch_size: 32,
    tokenization_workers: 0,
  };
  return startGrpcServer({ embedder, info: () => info, payloadLimit: 100_000 }, '127.0.0.1', 0);
}

/** One grpc.health.v1 Check on `s`, by hand (an empty request message); resolves with grpc-status. */
function healthCheck(s: ClientHttp2Session): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = s.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('trailers', (t) => resolve(String(t['grpc-status'])));
    stream.on('error', reject);
    stream.resume();
    stream.end(Buffer.alloc(5)); // uncompressed, length 0
  });
}

/** An HTTP/2 client session that records every GOAWAY it gets (Node then closes it, as grpc-js does). */
function rawClient(url: string): { session: ClientHttp2Session; goaways: Array<[number, number]> } {
  const s = connect(`http://${url}`);
  const goaways: Array<[number, number]> = [];
  s.on('goaway', (code: number, lastStreamID: number) => goaways.push([code, lastStreamID]));
  s.on('error', () => {});
  return { session: s, goaways };
}

test('close first sends a GOAWAY that refuses no stream, then closes the connection', async () => {
  server = await start();
  const c = rawClient(server.url);
  session = c.session;
  assert.equal(await healthCheck(c.session), '0');
  const closing = server.close(10_000);
  await within(closing, 10_000);
  assert.ok(c.goaways.length >= 1, 'no GOAWAY arrived');
  // The old close sent only GOAWAY(last stream processed = 1): a call sent meanwhile was refused.
  assert.deepEqual(c.goaways[0], [constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID]);
  for (const [code, last] of c.goaways.slice(1)) {
    assert.equal(code, constants.NGHTTP2_NO_ERROR);
    assert.ok(last === MAX_STREAM_ID || last === 1, `GOAWAY naming stream ${last}`);
  }
  await waitFor(() => c.session.closed || c.session.destroyed, { what: 'the connection closed', timeoutMs: 10_000 });
});

test('a new connection is refused as soon as close starts', async () => {
  server = await start();
  const c = rawClient(server.url);
  session = c.session;
  assert.equal(await healthCheck(c.session), '0');
  const closing = server.close(10_000);
  const refused = await new Promise<boolean>((resolve) => {
    const other = connect(`http://${server!.url}`);
    other.once('connect', () => (other.destroy(), resolve(false)));
    other.once('error', () => resolve(true));
  });
  assert.ok(refused, 'a connection opened after close() started was accepted');
  await within(closing, 10_000);
});
