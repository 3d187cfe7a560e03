/**
 * Generated gRPC calls against a real server: random bytes as messages (wrong wire types, truncated
 * fields), valid messages with odd values, 1 ms deadlines, streams cancelled midway. No call may end
 * INTERNAL or UNKNOWN, none may hang, and the server must be healthy after. Bounded in time
 * (FUZZ_MS, default 20 s). Failures found are replayed from regressions.ts.
 *
 * The calls go over connections of at most CALLS_PER_CONNECTION calls. One connection carrying
 * thousands of cancelled streams and 1 ms deadlines is a rapid-reset attack to Node's HTTP/2
 * server (CVE-2023-44487): past a burst of 1,000 RST_STREAMs, then 33 a second, nghttp2 ends the
 * session with GOAWAY(INTERNAL_ERROR), and every call on it reads "Received RST_STREAM with code
 * 2 ... Session closed with error code 2". That is the guard working, on that connection only
 * (test/transport/grpc/rapid-reset.test.ts), not a fault of the handlers. With that, 27,800 and
 * 31,900 generated calls in 20 s runs ended neither INTERNAL nor UNKNOWN.
 *
 * A finding of this suite: after such a run a closed channel could leave a connection whose
 * socket the server had only half-closed, keeping the process alive after close(); the gRPC
 * server now destroys what is left once it has shut down (graceful-goaway.ts destroyRemaining).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import type { Coalesce } from '../../src/server.js';
import { startServer } from '../helpers/server.js';
import { call, client } from '../transport/grpc/client.js';
import { regressions } from './regressions.js';

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 20_000);
/** Well under nghttp2's burst of 1,000 stream resets per connection (see the top). */
const CALLS_PER_CONNECTION = 300;
let server: Coalesce;
let raw: grpc.Client;
let callsOnConnection = 0;
before(async () => {
  server = await startServer(['--payload-limit', '200000', '--max-client-batch-size', '8']);
  raw = newConnection();
});

/** A client on a connection of its own: grpc-js shares one per target unless the options differ. */
function newConnection(): grpc.Client {
  callsOnConnection = 0;
  return new grpc.Client(server.grpcUrl!, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}
after(async () => {
  raw.close();
  // close() has been seen to never settle after a long fuzz run (nothing left on the event loop):
  // fail with that said, not with the runner's "Promise resolution is still pending".
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error('server.close() did not settle within 30 s after the fuzzed calls')), 30_000)),
  );
  try {
    await Promise.race([server.close(), stuck]);
  } finally {
    clearTimeout(timer);
  }
});

const METHODS = [
  '/tei.v1.Embed/Embed',
  '/tei.v1.Embed/EmbedAll',
  '/tei.v1.Embed/EmbedSparse',
  '/tei.v1.Tokenize/Tokenize',
  '/tei.v1.Tokenize/Decode',
  '/tei.v1.Info/Info',
  '/tei.v1.Predict/Predict',
  '/tei.v1.Rerank/Rerank',
  '/coalesce.v1.Coalesce/EmbedBatch',
  '/coalesce.v1.Coalesce/ModelInfo',
];
const STREAMS = ['/tei.v1.Embed/EmbedStream', '/tei.v1.Tokenize/TokenizeStream', '/tei.v1.Tokenize/DecodeStream', '/coalesce.v1.Coalesce/EmbedBatchStream'];
const BAD = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.DATA_LOSS]);
const identity = (b: Buffer) => b;

/** Field 1 (inputs) as a string of arbitrary bytes, then arbitrary bytes: mostly well-framed, often not. */
const message = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc
    .tuple(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 20 }))
    .map(([text, tail]) => Buffer.concat([Buffer.from([0x0a, text.length & 0x7f]), Buffer.from(text), Buffer.from(tail)])),
);
const callShape = fc.record({
  method: fc.constantFrom(...METHODS, ...STREAMS),
  messages: fc.array(message, { minLength: 1, maxLength: 4 }),
  deadlineMs: fc.oneof(fc.constant(1), fc.constant(30_000)),
  cancelAfter: fc.option(fc.nat(3), { nil: null }),
});

function unary(method: string, body: Buffer, deadline: number): Promise<grpc.status> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(method, identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + deadline }, (error) =>
      resolve(error ? error.code : grpc.status.OK),
    );
  });
}

function stream(method: string, bodies: Buffer[], deadline: number, cancelAfter: number | null): Promise<grpc.status> {
  return new Promise((resolve) => {
    const s = raw.makeBidiStreamRequest(method, identity, identity, new grpc.Metadata(), { deadline: Date.now() + deadline });
    s.on('data', () => {});
    s.on('error', (e: grpc.ServiceError) => resolve(e.code));
    s.on('status', (st: grpc.StatusObject) => resolve(st.code));
    bodies.forEach((b, i) => {
      if (cancelAfter === i) s.cancel();
      else s.write(b);
    });
    s.end();
  });
}

const property = fc.asyncProperty(callShape, async (c) => {
  if (++callsOnConnection > CALLS_PER_CONNECTION) {
    raw.close();
    raw = newConnection();
  }
  const code = STREAMS.includes(c.method)
    ? await stream(c.method, c.messages, c.deadlineMs, c.cancelAfter)
    : await unary(c.method, c.messages[0], c.deadlineMs);
  assert.ok(!BAD.has(code), `${c.method} ended ${grpc.status[code]}`);
});

test('generated gRPC calls never end INTERNAL or UNKNOWN nor hang; the server stays healthy', {
  timeout: FUZZ_MS + 120_000,
}, async (t) => {
  for (const replay of regressions.grpc) await fc.assert(property, { seed: replay.seed, path: replay.path, endOnFailure: true });
  // Rounds of whole runs until the time is up (fast-check's own time limit reports the run it cuts short as failed).
  const end = Date.now() + FUZZ_MS;
  let runs = 0;
  while (Date.now() < end) {
    const details = await fc.check(property, { numRuns: 100 });
    runs += details.numRuns;
    if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'failed');
  }
  t.diagnostic(`${runs} calls`);
  const health = client(server.grpcUrl!, 'health', 'Health');
  try {
    assert.deepEqual({ ...(await call(health, 'Check', { service: '' })) }, { status: 1 });
  } finally {
    health.close();
  }
});
