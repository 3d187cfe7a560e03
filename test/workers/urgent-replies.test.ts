import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { openUrgentReplies, pollUrgentReplies } from '../../src/workers/urgent-replies.js';

const MODULE = new URL('../../src/workers/urgent-replies.js', import.meta.url).href;

/** A worker that posts `count` urgent replies, then raises `done`. */
function replier(count: number): Worker {
  return new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.once('message', async ({ target, done }) => {
       const { postUrgentReply } = await import(${JSON.stringify(MODULE)});
       for (let n = 1; n <= ${count}; n++) postUrgentReply({ port: target.port, flag: new Int32Array(target.flag) }, { n });
       Atomics.store(new Int32Array(done), 0, 1);
     });`,
    { eval: true },
  );
}

test('replies posted while the main thread is busy are read by the poll, before the event loop gets to them, and once', async () => {
  const got: unknown[] = [];
  const inbox = openUrgentReplies((m) => got.push(m));
  const done = new SharedArrayBuffer(4);
  const worker = replier(2);
  try {
    worker.postMessage({ target: inbox.target, done }, [inbox.target.port]);
    // Busy, as under load: the event loop does not turn until the worker has posted both.
    const deadline = Date.now() + 10_000;
    while (Atomics.load(new Int32Array(done), 0) === 0 && Date.now() < deadline);
    assert.deepEqual(got, [], 'nothing is delivered while the thread is busy');
    pollUrgentReplies();
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }], 'the event loop does not deliver them again');
  } finally {
    inbox.close();
    await worker.terminate();
  }
});

test('without a poll, urgent replies arrive through the event loop like any message', async () => {
  const got: unknown[] = [];
  const inbox = openUrgentReplies((m) => got.push(m));
  const worker = replier(3);
  try {
    worker.postMessage({ target: inbox.target, done: new SharedArrayBuffer(4) }, [inbox.target.port]);
    const deadline = Date.now() + 10_000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  } finally {
    inbox.close();
    await worker.terminate();
  }
});
