/**
 * Cancellation, deadlines, admission and stream backpressure over gRPC, against a fake backend
 * that can be held closed, so "were the inputs dropped" is a fact about what reached the model.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientDuplexStream, ClientUnaryCall, ServiceError } from '@grpc/grpc-js';
import type { GrpcServer } from '../../../src/transport/grpc/server.js';
import { within } from '../../helpers/fake-backend.js';
import { startFakeGrpcServer } from '../../helpers/fake-grpc-server.js';
import { waitFor } from '../../helpers/wait-for.js';
import { call, client, duplex, failure, status, type Client } from './client.js';

let server: GrpcServer | null = null;
afterEach(async () => {
  await server?.close(100);
  server = null;
});

async function setup(options: { maxConcurrentRequests?: number; streamMaxInFlight?: number; queueTimeoutMs?: number } = {}) {
  /** Embed requests that failed, refusals by admission included. */
  const failed = { count: 0 };
  const started = await startFakeGrpcServer({ ...options, onRequestFinished: (ok) => void (ok || failed.count++) });
  const { backend, embedder, ran } = started;
  server = started.server;
  let release = () => {};
  const hold = () => {
    release = backend.hold();
  };
  return { backend, embedder, embed: client(server.url, 'tei', 'Embed'), hold, release: () => release(), ran, failed };
}

function unaryCall(c: Client, request: object, options = {}): { call: ClientUnaryCall; done: Promise<unknown> } {
  let pending!: ClientUnaryCall;
  const done = new Promise((resolve, reject) => {
    pending = (c.Embed as Function).call(c, request, options, (e: ServiceError | null, r: unknown) => (e ? reject(e) : resolve(r)));
  });
  return { call: pending, done };
}

test('a cancelled call has its queued inputs dropped and frees its permit', async () => {
  const { embedder, embed, hold, release, ran } = await setup();
  hold();
  const blocker = call(embed, 'Embed', { inputs: 'a' });
  await waitFor(() => ran().length === 1, { what: 'the blocker runs' });
  const { call: cancelled, done } = unaryCall(embed, { inputs: 'zzzz' });
  await waitFor(() => embedder.queueDepth === 1, { what: 'the second call is queued' });
  cancelled.cancel();
  assert.equal((await failure(done)).code, status.CANCELLED);
  await waitFor(() => embedder.admission.inUse === 1, { what: 'the cancelled call releases its permit' });
  release();
  await within(blocker);
  // A later call is batched after anything still queued: once it is answered, the dropped input had its chance.
  await within(call(embed, 'Embed', { inputs: 'b' }));
  assert.deepEqual(ran(), ['a', 'b'], 'the cancelled input never reached the model');
  assert.equal(embedder.admission.inUse, 0);
});

test('a call past its deadline gets DEADLINE_EXCEEDED and its inputs are dropped', async () => {
  const { embedder, embed, hold, release, ran } = await setup();
  hold();
  const blocker = call(embed, 'Embed', { inputs: 'a' });
  await waitFor(() => ran().length === 1, { what: 'the blocker runs' });
  const started = Date.now();
  const error = await within(failure(call(embed, 'Embed', { inputs: 'late' }, { deadline: Date.now() + 150 })), 3000, 'the expired call');
  assert.equal(error.code, status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - started < 2000, 'the deadline was honoured while the model was busy');
  // The batcher drops settled inputs lazily, at its next batch: the permit is what frees at once.
  await waitFor(() => embedder.admission.inUse === 1, { what: 'the expired call releases its permit' });
  release();
  await within(blocker);
  await within(call(embed, 'Embed', { inputs: 'b' }));
  assert.deepEqual(ran(), ['a', 'b']);
});

test('without a deadline of its own, a call waits at most --queue-timeout: DEADLINE_EXCEEDED, its inputs dropped', async () => {
  const { embedder, embed, hold, release, ran } = await setup({ queueTimeoutMs: 150 });
  hold();
  // The blocker runs past 150 ms in the model: it expires too, answered at its deadline.
  const blocker = failure(call(embed, 'Embed', { inputs: 'a' }));
  await waitFor(() => ran().length === 1, { what: 'the blocker runs' });
  const error = await within(failure(call(embed, 'Embed', { inputs: 'late' })), 3000, 'the expired call');
  assert.equal(error.code, status.DEADLINE_EXCEEDED);
  assert.equal(error.metadata.get('x-error-type')[0], 'Deadline');
  assert.equal((await within(blocker)).code, status.DEADLINE_EXCEEDED);
  await waitFor(() => embedder.admission.inUse === 0, { what: 'the expired calls release their permits' });
  release();
  await within(call(embed, 'Embed', { inputs: 'b' }));
  assert.deepEqual(ran(), ['a', 'b'], 'the expired input never reached the model');
});

test('over --max-concurrent-requests a unary call gets RESOURCE_EXHAUSTED at once; a stream waits for a permit instead', async () => {
  const { embedder, embed, hold, release, ran, failed } = await setup({ maxConcurrentRequests: 1 });
  hold();
  const blocker = call(embed, 'Embed', { inputs: 'a' });
  await waitFor(() => ran().length === 1, { what: 'the blocker runs' });
  const refused = await within(failure(call(embed, 'Embed', { inputs: 'b' })), 1000, 'the refused call');
  assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
  assert.equal(refused.metadata.get('x-error-type')[0], 'Overloaded');

  // normalize false: the fake backend's raw values say which input each answer is for.
  const streamed = duplex(embed, 'EmbedStream', [
    { inputs: 'x', normalize: false },
    { inputs: 'yy', normalize: false },
    { inputs: 'zzz', normalize: false },
  ]);
  await waitFor(() => embedder.admission.waiting >= 1, { what: "the stream's first message waiting for a permit" });
  release();
  await within(blocker);
  const out = await within(streamed, 3000, 'the stream');
  // FakeBackend's vector starts with the input length: the answers come back in request order.
  assert.deepEqual(
    out.map((r) => r.embeddings[0]),
    [1, 2, 3],
  );
  // te_request_failure counts what clients saw: the one refused unary call, not a stream message's every wait.
  assert.equal(failed.count, 1);
});

test('a stream reads no further than its in-flight cap while the model is busy', async () => {
  const cap = 4;
  const { embedder, embed, hold, release, ran } = await setup({ streamMaxInFlight: cap });
  // The most permits held at once, over the whole stream.
  let mostInUse = 0;
  const acquire = embedder.admission.acquire.bind(embedder.admission);
  embedder.admission.acquire = () => {
    const releasePermit = acquire();
    mostInUse = Math.max(mostInUse, embedder.admission.inUse);
    return releasePermit;
  };
  hold();
  const stream = (embed.EmbedStream as Function).call(embed) as ClientDuplexStream<object, { embeddings: number[] }>;
  const received: number[] = [];
  stream.on('data', (m) => received.push(m.embeddings[0]));
  const ended = new Promise((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const total = 200;
  for (let i = 1; i <= total; i++) stream.write({ inputs: 'x'.repeat(i), normalize: false });
  stream.end();
  // The first message runs (held), `cap` are admitted; the rest wait in flow control.
  await waitFor(() => embedder.admission.inUse === cap, { what: `${cap} messages admitted` });
  assert.deepEqual(ran(), ['x']);
  release();
  await within(ended, 5000, 'the stream');
  assert.deepEqual(
    received,
    Array.from({ length: total }, (_, i) => i + 1),
  );
  assert.equal(mostInUse, cap, `at most ${cap} messages admitted at once`);
});

test('cancelling a stream drops its queued messages', async () => {
  const { embedder, embed, hold, release, ran } = await setup();
  hold();
  const stream = (embed.EmbedStream as Function).call(embed) as ClientDuplexStream<object, unknown>;
  stream.on('error', () => {});
  stream.on('data', () => {});
  for (let i = 0; i < 10; i++) stream.write({ inputs: `m${i}` });
  await waitFor(() => embedder.queueDepth === 9, { what: 'nine messages queue behind the first' });
  stream.cancel();
  // Every message of the stream lets go, the one already running included.
  await waitFor(() => embedder.admission.inUse === 0, { what: "the stream's messages release their permits" });
  release();
  await within(call(embed, 'Embed', { inputs: 'after' }));
  assert.deepEqual(ran(), ['m0', 'after'], 'only the message already running when the stream was cancelled reached the model');
});

test('the first failing message ends a stream with its status, after the answers before it', async () => {
  const { embed } = await setup();
  const error = await failure(duplex(embed, 'EmbedStream', [{ inputs: 'ok' }, { inputs: '' }, { inputs: 'never' }]));
  assert.equal(error.code, status.INVALID_ARGUMENT);
  assert.match(error.details, /cannot be empty/);
});

test('a server that is not ready answers UNAVAILABLE, and health says NOT_SERVING', async () => {
  const { embedder, embed } = await setup();
  embedder.markReady(false);
  const error = await failure(call(embed, 'Embed', { inputs: 'a' }));
  assert.equal(error.code, status.UNAVAILABLE);
  const health = client(server!.url, 'health', 'Health');
  assert.deepEqual({ ...(await call(health, 'Check', { service: 'tei.v1.Embed' })) }, { status: 2 });
  embedder.markReady(true);
  assert.deepEqual({ ...(await call(health, 'Check', { service: 'tei.v1.Embed' })) }, { status: 1 });
});

test("a backend failure is FAILED_PRECONDITION with TEI's error type", async () => {
  const { backend, embed } = await setup();
  backend.failNext = new Error('the model blew up');
  const error = await failure(call(embed, 'Embed', { inputs: 'a' }));
  assert.equal(error.code, status.FAILED_PRECONDITION);
  assert.equal(error.metadata.get('x-error-type')[0], 'Backend');
});

test('close() does not wait forever on a stream the client leaves open', async () => {
  const { embed } = await setup();
  const stream = (embed.EmbedStream as Function).call(embed) as ClientDuplexStream<object, unknown>;
  const ended = new Promise<void>((resolve) => {
    stream.on('error', () => resolve());
    stream.on('end', () => resolve());
  });
  const answered = new Promise((resolve) => stream.once('data', resolve));
  stream.write({ inputs: 'hello' });
  await within(answered, 3000, 'the answer to the first message');
  stream.on('data', () => {});
  const started = Date.now();
  await within(server!.close(200), 3000, 'close');
  assert.ok(Date.now() - started < 2000);
  await within(ended, 3000, 'the client to see the stream end');
  server = null;
});
