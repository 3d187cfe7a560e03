/**
 * Graceful shutdown of the real CLI: on SIGTERM /health says 503 at once while requests are
 * still served, requests in flight are answered, a connection accepted just before the listener
 * closed is still served, idle connections do not hold the exit, a stuck client is cut at the
 * timeout (and only then), and the process exits 0 when nothing was cut.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { client, call } from './transport/grpc/client.js';
import { httpCall, startServerProcess, waitFor } from './helpers/server-process.js';

const EMBED = JSON.stringify({ inputs: 'drain me' });

function openSocket(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => resolve(s));
    s.once('error', reject);
  });
}

/** Collects everything the server writes on `socket` until it closes the connection. */
function readUntilClosed(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8').on('data', (c: string) => (text += c));
  return new Promise((resolve) => socket.once('close', () => resolve(text)));
}

for (const threads of [0, 2]) {
  const where = threads ? `with ${threads} HTTP threads` : 'with HTTP on the main thread';

  test(`SIGTERM ${where}: /health 503 while serving, the request in flight answered, exit 0`, async () => {
    const server = await startServerProcess(['--shutdown-grace', '1500', '--shutdown-timeout', '20000', '--http-threads', String(threads)]);
    try {
      assert.equal((await httpCall(server.httpUrl, 'GET', '/health')).status, 200);
      // A request in flight across the signal: headers and half the body now, the rest later.
      const slow = await openSocket(server.httpUrl);
      const answer = readUntilClosed(slow);
      slow.write(`POST /embed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${EMBED.length}\r\n\r\n${EMBED.slice(0, 5)}`);

      server.child.kill('SIGTERM');
      await waitFor('/health 503', async () => (await httpCall(server.httpUrl, 'GET', '/health')).status === 503, 5_000);
      assert.ok(!server.logs.some((l) => l.message === 'closing listeners'), '/health turned 503 only after the listeners closed');
      // Still serving during the grace, keep-alive: a proxy keeps its connections rather than
      // opening new ones the closing listener could reset.
      const during = await httpCall(server.httpUrl, 'POST', '/embed', EMBED, { connection: 'keep-alive' });
      assert.equal(during.status, 200, during.body);
      assert.equal(during.headers.connection, 'keep-alive');

      await server.logged('closing listeners', 10_000);
      slow.write(EMBED.slice(5));
      const raw = await answer;
      assert.match(raw, /^HTTP\/1\.1 200 /, raw);
      assert.match(raw, /connection: close/i);
      assert.equal(await server.exited, 0, JSON.stringify(server.logs));
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  test(`SIGTERM ${where}: a connection accepted just before the listener closed is served, with Connection: close`, async () => {
    const server = await startServerProcess(['--shutdown-grace', '0', '--shutdown-timeout', '20000', '--http-threads', String(threads)]);
    try {
      // Connected, request not sent yet: what a proxy's connection looks like when it is accepted
      // a moment before the listener closes (http.Server.close() would reset it).
      const early = await openSocket(server.httpUrl);
      const answer = readUntilClosed(early);
      server.child.kill('SIGTERM');
      await waitFor(
        'the listener closed',
        () =>
          openSocket(server.httpUrl).then(
            (s) => (s.destroy(), false),
            () => true,
          ),
        10_000,
      );
      early.write(`POST /embed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${EMBED.length}\r\n\r\n${EMBED}`);
      const raw = await answer;
      assert.match(raw, /^HTTP\/1\.1 200 /, raw);
      assert.match(raw, /connection: close/i);
      assert.equal(await server.exited, 0, JSON.stringify(server.logs));
    } finally {
      server.child.kill('SIGKILL');
    }
  });
}

test('SIGTERM with HTTP threads: a request still arriving is waited for until --shutdown-timeout, not a fixed 5 s', async () => {
  const server = await startServerProcess(['--shutdown-grace', '0', '--shutdown-timeout', '30000', '--http-threads', '1']);
  try {
    const slow = await openSocket(server.httpUrl);
    const answer = readUntilClosed(slow);
    slow.write(`POST /embed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${EMBED.length}\r\n\r\n${EMBED.slice(0, 5)}`);
    server.child.kill('SIGTERM');
    await server.logged('closing listeners', 10_000);
    // HTTP threads used to cut every connection 5 s after the stop: the connection must outlive that.
    const cut = await Promise.race([answer.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 6_000))]);
    assert.equal(cut, false, 'the connection was closed before the rest of its request came');
    slow.write(EMBED.slice(5));
    const raw = await answer;
    assert.match(raw, /^HTTP\/1\.1 200 /, raw);
    assert.equal(await server.exited, 0, JSON.stringify(server.logs));
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('SIGTERM: gRPC health turns NOT_SERVING during the grace while calls are served', async () => {
  const server = await startServerProcess(['--shutdown-grace', '1500']);
  const health = client(server.grpcUrl!, 'health', 'Health');
  const embed = client(server.grpcUrl!, 'tei', 'Embed');
  try {
    assert.equal((await call(health, 'Check', { service: '' })).status, 1);
    server.child.kill('SIGTERM');
    await waitFor('NOT_SERVING', async () => (await call(health, 'Check', { service: '' })).status === 2, 5_000);
    const reply = await call(embed, 'Embed', { inputs: 'still served' });
    assert.ok(reply.embeddings.length > 0);
    assert.equal(await server.exited, 0, JSON.stringify(server.logs));
  } finally {
    health.close();
    embed.close();
    server.child.kill('SIGKILL');
  }
});

test('an idle keep-alive connection does not hold the exit', async () => {
  const server = await startServerProcess(['--shutdown-grace', '0', '--shutdown-timeout', '60000']);
  try {
    const idle = await openSocket(server.httpUrl);
    const closed = readUntilClosed(idle);
    idle.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor('the first answer', async () => idle.bytesRead > 0, 10_000);
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0, JSON.stringify(server.logs));
    assert.ok(Date.now() - t0 < 30_000, `exit took ${Date.now() - t0} ms`);
    await closed;
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('a stuck half-sent request is cut at --shutdown-timeout (exit 1)', async () => {
  const server = await startServerProcess(['--shutdown-grace', '100', '--shutdown-timeout', '1500']);
  try {
    const stuck = await openSocket(server.httpUrl);
    stuck.on('error', () => {});
    stuck.write('POST /embed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"inp');
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 1);
    // The default request timeout would have held it for 300 s.
    assert.ok(Date.now() - t0 < 30_000, `exit took ${Date.now() - t0} ms`);
    assert.ok(
      server.logs.some((l) => l.message === 'shutdown timed out: cutting what is left'),
      JSON.stringify(server.logs),
    );
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('a second signal exits at once', async () => {
  const server = await startServerProcess(['--shutdown-grace', '600000']);
  try {
    server.child.kill('SIGTERM');
    await server.logged('draining');
    server.child.kill('SIGINT');
    assert.equal(await server.exited, 1);
    assert.ok(!server.logs.some((l) => l.message === 'closing listeners'));
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('a request without a Host header (HTTP/1.0 health checks) is answered', async () => {
  const server = await startServerProcess(['--grpc-port', '-1']);
  try {
    const s = await openSocket(server.httpUrl);
    const answer = readUntilClosed(s);
    s.write('GET /health HTTP/1.0\r\n\r\n');
    assert.match(await answer, /^HTTP\/1\.1 200 /);
    const s2 = await openSocket(server.httpUrl);
    const answer2 = readUntilClosed(s2);
    s2.write(`POST /embed HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: ${EMBED.length}\r\n\r\n${EMBED}`);
    assert.match(await answer2, /^HTTP\/1\.1 200 /);
  } finally {
    server.child.kill('SIGKILL');
  }
});
