/**
 * Bidirectional streams while the server shuts down: a stream stays open as long as its client
 * likes, so the server ends it with a status instead of waiting (or cutting it at the timeout,
 * which reset it without a status and lost the messages it held): every message it took is
 * answered, the rest are refused with UNAVAILABLE, and a stream opened meanwhile is refused.
 * First against a fake backend held closed (what reached the model is a fact), then the real CLI
 * on SIGTERM under continuous stream load.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import type { ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import type { GrpcServer } from '../../../src/transport/grpc/server.js';
import { within } from '../../helpers/fake-backend.js';
import { startFakeGrpcServer } from '../../helpers/fake-grpc-server.js';
import { h2Relay } from '../../helpers/h2-relay.js';
import { startServerProcess } from '../../helpers/server-process.js';
import { waitFor } from '../../helpers/wait-for.js';
import { call, client, status, type Client } from './client.js';

let server: GrpcServer | null = null;
let session: ClientHttp2Session | null = null;
afterEach(async () => {
  session?.destroy();
  await server?.close(100);
  server = session = null;
});

async function setup() {
  const started = await startFakeGrpcServer();
  server = started.server;
  return started;
}

/** An EmbedStream whose answers (the fake vector's second number: the text's first character) and final status are collected. */
function openStream(embed: Client) {
  const stream = (embed.EmbedStream as Function).call(embed) as ClientDuplexStream<object, { embeddings: number[] }>;
  const answered: string[] = [];
  stream.on('data', (m) => answered.push(String.fromCharCode(m.embeddings[1])));
  stream.on('error', () => {}); // the status says it
  const ended = new Promise<StatusObject>((resolve) => stream.on('status', resolve));
  const send = (text: string) => stream.write({ inputs: text, normalize: false });
  return { stream, answered, ended, send };
}

test('closing: a stream answers every message it took, handles none after, and ends with UNAVAILABLE', async () => {
  const { backend, embedder, server, ran } = await setup();
  const release = backend.hold();
  const s = openStream(client(server.url, 'tei', 'Embed'));
  for (const text of ['a', 'b', 'c', 'd', 'e']) s.send(text);
  await waitFor(() => ran().length + embedder.queueDepth === 5, { what: 'five messages taken (one running, the rest queued)' });

  const closed = server.close(30_000);
  s.send('f');
  s.send('g');
  release();
  const ended = await within(s.ended, 5000, 'the stream to end');
  assert.equal(ended.code, status.UNAVAILABLE, ended.details);
  assert.match(ended.details, /shutting down.*send them again on a new stream/);
  assert.equal(ended.metadata.get('x-error-type')[0], 'Unhealthy');
  assert.deepEqual(s.answered, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(ran().sort(), ['a', 'b', 'c', 'd', 'e'], 'a message sent after the close began reached the model');
  await within(closed, 5000, 'close (it waits for no client)');
});

test('closing: a stream whose client had sent everything ends OK, every message answered', async () => {
  const { backend, embedder, server, ran } = await setup();
  const release = backend.hold();
  const s = openStream(client(server.url, 'tei', 'Embed'));
  for (const text of ['a', 'b', 'c']) s.send(text);
  s.stream.end();
  await waitFor(() => ran().length + embedder.queueDepth === 3, { what: 'three messages taken' });
  const closed = server.close(30_000);
  release();
  const ended = await within(s.ended, 5000, 'the stream to end');
  assert.equal(ended.code, status.OK, ended.details);
  assert.deepEqual(s.answered, ['a', 'b', 'c']);
  await within(closed, 5000, 'close (it waits for no client)');
});

test('a stream opened once the server is closing is refused with UNAVAILABLE, handling nothing', async () => {
  const { server, ran } = await setup();
  const relay = await h2Relay(server.url);
  try {
    session = connect(`http://${relay.url}`);
    session.on('error', () => {});
    await new Promise((resolve) => session!.once('remoteSettings', resolve));
    // The stream's frames on their way, reaching the server once its close began (as a proxy's call crossing it).
    relay.holdStreams();
    const late = session.request({ ':method': 'POST', ':path': '/tei.v1.Embed/EmbedStream', 'content-type': 'application/grpc', te: 'trailers' });
    let data = 0;
    late.on('data', (chunk: Buffer) => (data += chunk.length));
    late.on('error', () => {});
    // The status comes as trailers, or in the response headers of a trailers-only answer.
    const status14 = new Promise<Record<string, unknown>>((resolve) => {
      late.once('trailers', resolve);
      late.once('response', (headers) => headers['grpc-status'] !== undefined && resolve(headers));
    });
    // An empty message: handled, it would get INVALID_ARGUMENT ("inputs cannot be empty").
    late.write(Buffer.alloc(5));
    await waitFor(() => relay.held() > 0, { what: "the late stream's HEADERS on their way" });
    const closed = server.close(30_000);
    relay.release();
    const t = await within(status14, 5000, "the late stream's status");
    assert.equal(t['grpc-status'], String(status.UNAVAILABLE), String(t['grpc-message']));
    assert.match(decodeURIComponent(String(t['grpc-message'])), /shutting down/);
    assert.equal(data, 0, 'the late stream got an answer');
    assert.deepEqual(ran(), []);
    // The client is still sending: the server tells it to stop (RST_STREAM NO_ERROR) rather than wait for it.
    await within(new Promise((resolve) => (late.closed ? resolve(null) : late.once('close', resolve))), 5000, 'the late stream to close');
    assert.equal(late.rstCode, 0);
    await within(closed, 5000, 'close (it waits for no client)');
  } finally {
    relay.close();
  }
});

/** A client keeping one stream busy (`window` messages unanswered), checking every answer, until the stream ends. */
function pipeline(c: Client, method: string, message: (i: number) => object, check: (i: number, answer: any) => boolean, window = 4) {
  const stream = (c[method] as Function).call(c) as ClientDuplexStream<object, unknown>;
  let sent = 0;
  let done = false;
  const counts = { answered: 0, wrong: 0 };
  const pump = () => {
    while (!done && sent - counts.answered < window) stream.write(message(sent++));
  };
  stream.on('data', (answer) => {
    if (!check(counts.answered, answer)) counts.wrong++;
    counts.answered++;
    pump();
  });
  stream.on('error', () => {});
  const ended = new Promise<StatusObject>((resolve) =>
    stream.on('status', (s: StatusObject) => {
      done = true;
      resolve(s);
    }),
  );
  pump();
  return { counts, ended, unanswered: () => sent - counts.answered };
}

test('SIGTERM under stream load: streams are served through the grace, then every one ends with UNAVAILABLE after its answers; exit 0', async () => {
  const server = await startServerProcess(['--shutdown-grace', '4000', '--shutdown-timeout', '30000']);
  const embed = client(server.grpcUrl!, 'tei', 'Embed');
  const tokenize = client(server.grpcUrl!, 'tei', 'Tokenize');
  const batch = client(server.grpcUrl!, 'coalesce', 'Coalesce');
  try {
    const texts = ['red apples', 'a quiet river', 'stone walls', 'the evening train'];
    const reference = await Promise.all(texts.map(async (inputs) => (await call(embed, 'Embed', { inputs })).embeddings as number[]));
    const close = (a: ArrayLike<number>, b: number[]) => a.length === b.length && b.every((x, k) => Math.abs(a[k] - x) < 1e-4);
    const text = (i: number) => texts[i % texts.length];
    const streams = [
      pipeline(
        embed,
        'EmbedStream',
        (i) => ({ inputs: text(i) }),
        (i, r) => close(r.embeddings, reference[i % texts.length]),
      ),
      pipeline(
        embed,
        'EmbedStream',
        (i) => ({ inputs: text(i + 1) }),
        (i, r) => close(r.embeddings, reference[(i + 1) % texts.length]),
      ),
      pipeline(
        batch,
        'EmbedBatchStream',
        (i) => ({ inputs: [text(i), text(i + 2)] }),
        (i, r) => r.rows === 2 && close(new Float32Array(Uint8Array.from(r.embeddings).buffer, 0, r.dimensions), reference[i % texts.length]),
      ),
      pipeline(
        tokenize,
        'TokenizeStream',
        (i) => ({ inputs: text(i) }),
        (i, r) =>
          r.tokens
            .map((t: { text: string }) => t.text)
            .join(' ')
            .replaceAll(' ##', '') === text(i),
      ),
    ];
    const answered = () => streams.reduce((n, s) => n + s.counts.answered, 0);
    await waitFor(() => streams.every((s) => s.counts.answered > 10), { what: 'every stream answering', timeoutMs: 20_000 });

    server.child.kill('SIGTERM');
    await server.logged('draining', 10_000);
    const atSignal = answered();
    await waitFor(() => answered() > atSignal + 40, { what: 'answers during the grace', timeoutMs: 10_000 });
    assert.ok(!server.logs.some((l) => l.message === 'closing listeners'), 'the grace ended before the streams were answered during it');

    for (const [i, s] of streams.entries()) {
      const ended = await within(s.ended, 20_000, `stream ${i} to end`);
      assert.equal(ended.code, status.UNAVAILABLE, `stream ${i}: ${status[ended.code]} ${ended.details}`);
      assert.match(ended.details, /the server is shutting down/);
      assert.equal(ended.metadata.get('x-error-type')[0], 'Unhealthy');
      assert.equal(s.counts.wrong, 0, `stream ${i}: answers that were not their message's`);
      assert.ok(s.unanswered() <= 4, `stream ${i}: ${s.unanswered()} messages unanswered, more than it had sent ahead`);
    }
    assert.equal(await server.exited, 0, JSON.stringify(server.logs));
    assert.ok(!server.logs.some((l) => l.message === 'shutdown timed out: cutting what is left'));
  } finally {
    for (const c of [embed, tokenize, batch]) c.close();
    server.child.kill('SIGKILL');
  }
});
