/**
 * Unix domain sockets: a stale socket from a crashed run is replaced, a regular file or a live
 * server's socket is not; the real CLI serves HTTP and gRPC on sockets with the asked mode, and
 * removes them on a clean exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeSocketPath } from '../../src/transport/unix-socket.js';
import { call, client } from './grpc/client.js';
import { httpCall, startServerProcess, waitFor } from '../helpers/server-process.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'coalesce-uds-'));
}

/** A socket file whose server died without removing it, as after a crash. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)})`], { stdio: 'ignore' });
  await waitFor('the socket file', async () => existsSync(path));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

test('freeSocketPath: absent is free, a stale socket is removed', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 's.sock');
    await freeSocketPath(path);
    await staleSocket(path);
    assert.ok(statSync(path).isSocket());
    await freeSocketPath(path);
    assert.equal(existsSync(path), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('freeSocketPath refuses a regular file and a live server', async () => {
  const dir = tempDir();
  const live = createServer();
  try {
    const file = join(dir, 'file');
    writeFileSync(file, 'keep me');
    await assert.rejects(freeSocketPath(file), /exists and is not a socket/);
    assert.ok(existsSync(file));
    const path = join(dir, 'live.sock');
    await new Promise<void>((r) => live.listen(path, () => r()));
    await assert.rejects(freeSocketPath(path), /a live server answers/);
    assert.ok(existsSync(path));
  } finally {
    live.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const threads of [0, 2]) {
  test(`the CLI serves HTTP and gRPC on Unix sockets (${threads} HTTP threads), mode 0660, removed on exit`, async () => {
    const dir = tempDir();
    const http = join(dir, 'http.sock');
    const grpc = join(dir, 'grpc.sock');
    await staleSocket(http);
    const server = await startServerProcess(['--uds-path', http, '--grpc-uds-path', grpc, '--shutdown-grace', '0', '--http-threads', String(threads)]);
    const embed = client(`unix:${grpc}`, 'tei', 'Embed');
    try {
      assert.equal(server.httpUrl, `unix:${http}`);
      assert.equal(statSync(http).mode & 0o777, 0o660);
      assert.equal(statSync(grpc).mode & 0o777, 0o660);
      const reply = await httpCall(server.httpUrl, 'POST', '/embed', JSON.stringify({ inputs: ['over a socket'] }));
      assert.equal(reply.status, 200, reply.body);
      assert.equal(JSON.parse(reply.body)[0].length, 32);
      const grpcReply = await call(embed, 'Embed', { inputs: 'over a socket' });
      assert.equal(grpcReply.embeddings.length, 32);
      embed.close();
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0, JSON.stringify(server.logs));
      assert.equal(existsSync(http), false, 'the HTTP socket is left behind');
      assert.equal(existsSync(grpc), false, 'the gRPC socket is left behind');
    } finally {
      embed.close();
      server.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the CLI refuses a socket path held by a live server, and leaves it alone', async () => {
  const dir = tempDir();
  const path = join(dir, 'http.sock');
  const live = createServer();
  try {
    await new Promise<void>((r) => live.listen(path, () => r()));
    await assert.rejects(startServerProcess(['--uds-path', path, '--grpc-port', '-1']), /a live server answers on this socket/);
    assert.ok(statSync(path).isSocket());
  } finally {
    live.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
