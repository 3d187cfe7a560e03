/**
 * /health means every transport serves: it does not turn 200 before gRPC accepts connections,
 * and it turns 503 (gRPC NOT_SERVING) when an HTTP thread dies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { startServer } from './helpers/server.js';
import { call, client } from './transport/grpc/client.js';
import { waitFor, within } from './helpers/wait-for.js';

/** A port free now (the test then binds it itself, so a race is only with other processes). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function healthStatus(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

test('the first /health 200 comes only once gRPC accepts calls', async () => {
  const [port, grpcPort] = [await freePort(), await freePort()];
  const starting = startServer(['--http-threads', '1', '--port', String(port), '--grpc-port', String(grpcPort)]);
  let failed: unknown = null;
  starting.catch((e) => (failed = e));
  await waitFor(async () => failed !== null || (await healthStatus(`http://127.0.0.1:${port}/health`)) === 200, {
    timeoutMs: 60_000,
    intervalMs: 1,
    what: '/health 200',
  });
  assert.equal(failed, null);
  // At the first 200, gRPC must already accept: a call that does not wait for the channel to become ready.
  const health = client(`127.0.0.1:${grpcPort}`, 'health', 'Health');
  try {
    const reply = await within(call(health, 'Check', { service: '' }, { deadline: Date.now() + 5000 }), 10_000, 'the gRPC health check');
    assert.equal(reply.status, 1, 'SERVING');
  } finally {
    health.close();
    await (await starting).close();
  }
});
