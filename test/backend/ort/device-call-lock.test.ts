/**
 * The lock session threads hold around their device calls: a capture (exclusive) never overlaps a
 * run (shared), runs overlap each other, and a capture is not starved by runs that never stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { DeviceCallLock, processDeviceCallLock } from '../../../src/backend/ort/device-call-lock.js';
import { within } from '../../helpers/wait-for.js';

const WORKER = new URL('../../helpers/device-lock-worker.js', import.meta.url);

function start(lock: SharedArrayBuffer, counters: SharedArrayBuffer, role: 'reader' | 'writer', rounds: number): { worker: Worker; done: Promise<void> } {
  const worker = new Worker(WORKER, { workerData: { lock, counters, role, rounds } });
  const done = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return { worker, done };
}

test('captures never overlap runs, and a capture gets its turn while three threads keep running', async () => {
  const lock = new SharedArrayBuffer(8);
  const counters = new SharedArrayBuffer(16);
  const c = new Int32Array(counters);
  const readers = Array.from({ length: 3 }, () => start(lock, counters, 'reader', 4000));
  const writer = start(lock, counters, 'writer', 50);
  let readersDone = 0;
  for (const r of readers) void r.done.then(() => readersDone++);
  try {
    await within(writer.done, 30_000, 'the captures to get their turns');
    assert.ok(readersDone < 3, 'the captures waited until every run had ended');
    await within(Promise.all(readers.map((r) => r.done)), 30_000, 'the runs to end');
    assert.equal(Atomics.load(c, 3), 50);
    assert.equal(Atomics.load(c, 2), 0, 'a run and a capture were inside the lock at once');
    assert.deepEqual([...new Int32Array(lock)], [0, 0], 'the lock is left free');
  } finally {
    await Promise.all([...readers, writer].map((r) => r.worker.terminate()));
  }
});

test('shared sections of one thread overlap; an error or a rejection leaves the lock free', async () => {
  const buffer = new SharedArrayBuffer(8);
  const lock = new DeviceCallLock(buffer);
  const cells = new Int32Array(buffer);
  // Without a writer, shared never blocks: usable here, on a thread that cannot Atomics.wait.
  const both = await Promise.all([lock.shared(async () => Atomics.load(cells, 0)), lock.shared(async () => Atomics.load(cells, 0))]);
  assert.deepEqual(both, [1, 2]);
  assert.equal(Atomics.load(cells, 0), 0);
  assert.throws(() =>
    lock.shared(() => {
      throw new Error('run failed');
    }),
  );
  await assert.rejects(lock.shared(async () => Promise.reject(new Error('run failed'))));
  assert.equal(
    lock.shared(() => 7),
    7,
  );
  assert.deepEqual([...cells], [0, 0]);
  assert.equal(processDeviceCallLock(), processDeviceCallLock(), 'one lock per process');
});
