import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { isWorkerLost, LeastBusyPool } from '../../src/workers/least-busy-pool.js';
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
    assert.deepEqual(
      replies.map((r) => r.value),
      [1, 2, 3],
    );
    assert.notEqual(replies[0].thread, replies[1].thread, 'two busy calls went to two threads');
  } finally {
    await pool.close();
  }
});

test('a thread that dies fails the calls in flight and every later call, at once', async () => {
  const pool = new LeastBusyPool<{ id: number }>(echoWorkers(1), 'echo');
  const inFlight = pool.call({ value: 1, ms: 1000 });
  void pool.call({ die: true }).catch(() => undefined);
  await assert.rejects(
    within(inFlight, 5000, 'the call in flight'),
    (e) => isCoalesceError(e) && e.kind === 'unhealthy' && /echo worker exited/.test(e.message),
  );
  await assert.rejects(within(pool.call({ value: 2 }), 1000, 'a later call'), (e) => isCoalesceError(e) && e.kind === 'unhealthy');
  await pool.close();
});

/** Answers an array of calls with one array, and counts the messages it received. */
const BATCH_ECHO = `
const { parentPort, threadId } = require('node:worker_threads');
let messages = 0;
parentPort.on('message', (batch) => {
  messages++;
  parentPort.postMessage(batch.map((m) => ({ id: m.id, value: m.value, thread: threadId, messages, size: batch.length })));
});`;

test('batchPerTurn: the calls of one turn reach a thread as one message, and every reply finds its call', async () => {
  const pool = new LeastBusyPool<{ id: number; value: number; thread: number; messages: number; size: number }>(
    [new Worker(BATCH_ECHO, { eval: true })],
    'echo',
    { batchPerTurn: { gatherWeight: 0 } },
  );
  try {
    const first = await within(Promise.all(Array.from({ length: 5 }, (_, i) => pool.call({ value: i }))));
    assert.deepEqual(
      first.map((r) => r.value),
      [0, 1, 2, 3, 4],
    );
    assert.ok(
      first.every((r) => r.size === 5 && r.messages === 1),
      'five calls, one message',
    );
    const later = await within(pool.call({ value: 9 }));
    assert.equal(later.value, 9);
    assert.equal(later.messages, 2, 'a later turn sends its own message');
  } finally {
    await pool.close();
  }
});

test('batchPerTurn with a gather weight: small calls of one turn travel together to one thread, heavy ones spread', async () => {
  const pool = new LeastBusyPool<{ id: number; value: number; thread: number; messages: number; size: number }>(
    [new Worker(BATCH_ECHO, { eval: true }), new Worker(BATCH_ECHO, { eval: true })],
    'echo',
    { batchPerTurn: { gatherWeight: 4 } },
  );
  try {
    const small = await within(Promise.all(Array.from({ length: 4 }, (_, i) => pool.call({ value: i }))));
    assert.equal(new Set(small.map((r) => r.thread)).size, 1, 'four calls of weight 1, one thread');
    assert.ok(small.every((r) => r.size === 4));
    const heavy = await within(Promise.all(Array.from({ length: 2 }, (_, i) => pool.call({ value: i }, [], 3))));
    assert.equal(new Set(heavy.map((r) => r.thread)).size, 2, 'two calls of weight 3 exceed 4 together: two threads');
    const mixed = await within(Promise.all([pool.call({ value: 0 }, [], 3), pool.call({ value: 1 }), pool.call({ value: 2 })]));
    assert.deepEqual(
      mixed.map((r) => r.size),
      [2, 2, 1],
      'the first two fill one message, the third starts another',
    );
  } finally {
    await pool.close();
  }
});

test('with respawn, a dead thread is replaced: its calls in flight fail as WorkerLost, later calls wait for and reach the replacement', async () => {
  let respawned = 0;
  const pool = new LeastBusyPool<{ id: number; value: number; thread: number }>(echoWorkers(1), 'echo', {
    respawn: async () => {
      respawned++;
      return echoWorkers(1)[0];
    },
  });
  try {
    const [first] = pool.workers;
    const inFlight = pool.call({ value: 1, ms: 5000 });
    await first.terminate();
    await assert.rejects(within(inFlight), (e) => isWorkerLost(e));
    const after = await within(pool.call({ value: 2 }), 10_000, 'a call after the death');
    assert.equal(after.value, 2);
    assert.equal(respawned, 1);
    assert.notEqual(pool.workers[0], first);
  } finally {
    await pool.close();
  }
});

test('with respawn, a replacement that fails to start fails the pool and calls onFail once', async () => {
  const failures: Error[] = [];
  const pool = new LeastBusyPool<{ id: number }>(echoWorkers(1), 'echo', {
    respawn: () => Promise.reject(new Error('the model file is gone')),
    onFail: (e) => failures.push(e),
  });
  try {
    await pool.workers[0].terminate();
    const waiting = pool.call({ value: 1 });
    await assert.rejects(within(waiting), (e) => isCoalesceError(e) && e.kind === 'unhealthy' && /the model file is gone/.test(e.message));
    assert.equal(failures.length, 1);
    await assert.rejects(pool.call({ value: 2 }), (e) => isCoalesceError(e) && e.kind === 'unhealthy');
  } finally {
    await pool.close();
  }
});
