import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { LeastBusyPool } from '../../src/workers/least-busy-pool.js';
import { isCoalesceError } from '../../src/errors.js';
import { within } from '../helpers/fake-backend.js';

/** Echoes after `ms`; exits on `die`. */
const ECHO = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  if (m.die) process.exit(3);
  setTimeout(() => parentPort.postMessage({ id: m.id, value: m.value, thread: require('node:worker_threads').threadId }), m.ms ?? 0);
});`;

const echoWorkers = (n: number) => Array.from({ length: n }, () => new Worker(ECHO, { eval: true }));

test('calls go to the least busy thread and come back by id', async () => {
  const pool = new LeastBusyPool<{ id: number; value: number; thread: number }>(echoWorkers(2), 'echo');
  try {
    const replies = await within(Promise.all([pool.call({ value: 1, ms: 30 }), pool.call({ value: 2, ms: 30 }), pool.call({ value: 3 })]));
    assert.deepEqual(replies.map((r) => r.value), [1, 2, 3]);
    assert.notEqual(replies[0].thread, replies[1].thread, 'two busy calls went to two threads');
  } finally {
    await pool.close();
  }
});

test('a thread that dies fails the calls in flight and every later call, at once', async () => {
  const pool = new LeastBusyPool<{ id: number }>(echoWorkers(1), 'echo');
  const inFlight = pool.call({ value: 1, ms: 1000 });
  void pool.call({ die: true }).catch(() => undefined);
  await assert.rejects(within(inFlight, 5000, 'the call in flight'), (e) => isCoalesceError(e) && e.kind === 'unhealthy' && /echo worker exited/.test(e.message));
  await assert.rejects(within(pool.call({ value: 2 }), 1000, 'a later call'), (e) => isCoalesceError(e) && e.kind === 'unhealthy');
  await pool.close();
});
