import { noTasks } from '../../../helpers/http-deps.js';
/** HTTP threads even out the keep-alive connections that land on them unevenly. */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { test } from 'node:test';
import type { HttpDeps } from '../../../../src/transport/http/app.js';
import { HttpThreads } from '../../../../src/transport/http/threads/http-threads.js';
import { overShare } from '../../../../src/transport/http/threads/connection-share.js';
import { waitFor, within } from '../../../helpers/wait-for.js';

const shares = (...counts: number[]) => Int32Array.from(counts);

test('a thread is over its share past the even share plus one, less the connections it is already closing', () => {
  assert.equal(overShare(shares(10, 7, 41, 6), 2, 0), true);
  assert.equal(overShare(shares(10, 7, 41, 6), 0, 0), false);
  // 64 over 4: 16 each, 17 tolerated.
  assert.equal(overShare(shares(17, 16, 16, 15), 0, 0), false);
  assert.equal(overShare(shares(18, 16, 15, 15), 0, 0), true);
  assert.equal(overShare(shares(18, 16, 15, 15), 0, 1), false);
  // Counts that cannot be even: no churn.
  assert.equal(overShare(shares(2, 1, 1, 1), 0, 0), false);
  assert.equal(overShare(shares(1, 0, 0, 0), 0, 0), false);
});

const deps: HttpDeps = {
  embedder: {
    ...noTasks,
    info: { id: 'fake', dimensions: 4, kind: 'embedding' } as any,
    embed: async () => {
      throw new Error('unused');
    },
    tokenize: async () => [],
    decode: async () => [],
  },
  ready: () => true,
  modelName: 'fake',
  payloadLimit: 1000,
  info: () => ({}),
  metrics: () => '',
};

function get(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('64 keep-alive clients opened at once end up spread over 4 threads within one of their share', async () => {
  const threads = await HttpThreads.start(
    4,
    { hostname: '127.0.0.1', port: 0 },
    deps,
    { modelName: 'fake', payloadLimit: 1000, textInfo: deps.embedder.info, imageInfo: null, arrival: null },
    () => {},
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const statuses: number[] = [];
  let stop = false;
  // Clients keep sending until the threads have evened out their connections (or the wait fails).
  const clients = Promise.all(
    Array.from({ length: 64 }, async () => {
      while (!stop) statuses.push(await get(threads.port, agent));
    }),
  );
  try {
    let counts = threads.connections();
    await waitFor(
      () => {
        counts = threads.connections();
        return counts.reduce((a, b) => a + b, 0) === 64 && Math.max(...counts) <= 64 / 4 + 2;
      },
      { timeoutMs: 30_000, what: () => `64 connections within one of their share over 4 threads (last: ${counts.join(' ')})` },
    );
    stop = true;
    await within(clients, 10_000, 'the clients to stop');
    assert.ok(
      statuses.every((s) => s === 200),
      'every request answered',
    );
  } finally {
    stop = true;
    agent.destroy();
    await threads.close();
  }
});
