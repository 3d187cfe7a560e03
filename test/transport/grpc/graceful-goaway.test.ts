/**
 * Closing the gRPC server refuses no call a client or proxy had already sent (graceful-goaway.ts):
 * a connection with a call under way is told to go with a GOAWAY that refuses no stream (the
 * highest stream id) before the final one; an idle connection gets PINGs instead, so that the
 * server keeps reading it and serves a call that crosses the close; the listener closes at once.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import type { GrpcServer } from '../../../src/transport/grpc/server.js';
import type { FakeBackend } from '../../helpers/fake-backend.js';
import { startFakeGrpcServer } from '../../helpers/fake-grpc-server.js';
import { h2Relay } from '../../helpers/h2-relay.js';
import { waitFor, within } from '../../helpers/wait-for.js';

const MAX_STREAM_ID = 2 ** 31 - 1;

let server: GrpcServer | null = null;
let session: ClientHttp2Session | null = null;
afterEach(async () => {
  session?.destroy();
  await server?.close(100);
  server = session = null;
});

let backend: FakeBackend;

async function start(): Promise<GrpcServer> {
  const started = await startFakeGrpcServer();
  backend = started.backend;
  return started.server;
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

/** One tei.v1.Embed call of "a" on `s`, by hand; resolves with grpc-status, or the reset code when the stream was reset without one. */
function embedCall(s: ClientHttp2Session): Promise<string> {
  return new Promise((resolve) => {
    const stream = s.request({ ':method': 'POST', ':path': '/tei.v1.Embed/Embed', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('trailers', (t) => resolve(String(t['grpc-status'])));
    stream.on('response', (h) => h['grpc-status'] !== undefined && resolve(String(h['grpc-status'])));
    stream.on('close', () => resolve(`reset ${stream.rstCode}`));
    stream.on('error', () => {});
    stream.resume();
    // EmbedRequest { inputs: "a" }: field 1, length 1.
    stream.end(Buffer.from([0, 0, 0, 0, 3, 0x0a, 0x01, 0x61]));
  });
}

/** An HTTP/2 client session that records every GOAWAY and PING it gets (Node closes it on a GOAWAY, as grpc-js does). */
function rawClient(url: string): { session: ClientHttp2Session; goaways: Array<[number, number]>; pings: () => number } {
  const s = connect(`http://${url}`);
  const goaways: Array<[number, number]> = [];
  let pings = 0;
  s.on('goaway', (code: number, lastStreamID: number) => goaways.push([code, lastStreamID]));
  s.on('ping', () => pings++);
  s.on('error', () => {});
  return { session: s, goaways, pings: () => pings };
}

test('close: a connection with a call under way first gets a GOAWAY that refuses no stream, then the final one', async () => {
  server = await start();
  const c = rawClient(server.url);
  session = c.session;
  const release = backend.hold();
  const answer = embedCall(c.session);
  await waitFor(() => backend.batches.length === 1, { what: 'the call reaches the model' });
  const closing = server.close(10_000);
  await waitFor(() => c.goaways.length > 0, { what: 'a GOAWAY' });
  // The old close sent only GOAWAY(last stream processed): a call sent meanwhile was refused.
  assert.deepEqual(c.goaways[0], [constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID]);
  release();
  assert.equal(await within(answer, 5000, 'the answer'), '0');
  await within(closing, 10_000);
  for (const [code, last] of c.goaways.slice(1)) {
    assert.equal(code, constants.NGHTTP2_NO_ERROR);
    assert.ok(last === MAX_STREAM_ID || last === 1, `GOAWAY naming stream ${last}`);
  }
  await waitFor(() => c.session.closed || c.session.destroyed, { what: 'the connection closed', timeoutMs: 10_000 });
});

test('close: an idle connection gets PINGs, not a GOAWAY, until the final GOAWAY', async () => {
  server = await start();
  const c = rawClient(server.url);
  session = c.session;
  assert.equal(await healthCheck(c.session), '0');
  const closing = server.close(10_000);
  await within(closing, 10_000);
  assert.ok(c.pings() >= 1, 'no PING arrived');
  assert.ok(c.goaways.length >= 1, 'no GOAWAY arrived');
  for (const goaway of c.goaways) assert.deepEqual(goaway, [constants.NGHTTP2_NO_ERROR, 1], 'only the final GOAWAY, naming the one stream served');
  await waitFor(() => c.session.closed || c.session.destroyed, { what: 'the connection closed', timeoutMs: 10_000 });
});

test('close: a call that crosses it on an idle connection is read and served, not refused', async () => {
  server = await start();
  const relay = await h2Relay(server.url);
  try {
    const c = rawClient(relay.url);
    session = c.session;
    assert.equal(await healthCheck(c.session), '0');
    relay.holdStreams();
    const answer = embedCall(c.session);
    await waitFor(() => relay.held() > 0, { what: 'the call on its way' });
    const closing = server.close(30_000);
    // The server reads something on the idle connection after its close began: after a GOAWAY,
    // that made Node stop reading it, and the call that came next was refused by the final GOAWAY.
    await within(new Promise<void>((resolve, reject) => c.session.ping((e) => (e ? reject(e) : resolve()))), 5000, 'the PING answer');
    relay.release();
    assert.equal(await within(answer, 5000, 'the answer'), '0');
    await within(closing, 10_000);
  } finally {
    relay.close();
  }
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
