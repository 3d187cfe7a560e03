/**
 * The idle heap release: when it decides to collect (quiet long enough, enough unused heap, once
 * per quiet period), and that the collection really shrinks a heap grown by a burst of allocation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import { IdleWatch, MIN_SLACK_BYTES, releaseHeap, releaseHeapWhenIdle, type HeapRelease } from '../src/idle-heap-release.js';
import { Worker } from 'node:worker_threads';
import { waitFor, within } from './helpers/wait-for.js';

const MB = 2 ** 20;

test('a release is due only after idleMs of quiet, with enough unused heap, once per quiet period', () => {
  const w = new IdleWatch(5000, 0, 16 * MB);
  assert.equal(w.due(1000, false, 100 * MB), false, 'quiet for 1 s');
  assert.equal(w.due(4999, false, 100 * MB), false, 'quiet for just under 5 s');
  assert.equal(w.due(5000, false, 100 * MB), true, 'quiet for 5 s');
  assert.equal(w.due(6000, false, 100 * MB), false, 'the next one needs another 5 s of quiet');
  assert.equal(w.due(10_000, false, 100 * MB), true);
});

test('activity restarts the quiet time, and a heap with little unused space is left alone', () => {
  const w = new IdleWatch(5000, 0, 16 * MB);
  assert.equal(w.due(4000, true, 100 * MB), false);
  assert.equal(w.due(8000, false, 100 * MB), false, 'only 4 s since the last activity');
  assert.equal(w.due(9000, false, 100 * MB), true);
  const small = new IdleWatch(5000, 0, 16 * MB);
  assert.equal(small.due(60_000, false, 16 * MB - 1), false);
  assert.equal(small.due(61_000, false, 16 * MB), true, 'grown again: due at once, quiet long enough');
});

/** Allocation at a high rate with survivors, as request handling under load: V8 grows its young generation. */
function allocationBurst(): void {
  const keep: unknown[][] = [];
  for (let round = 0; round < 1500; round++) {
    const objects: unknown[] = [];
    for (let i = 0; i < 2000; i++) objects.push({ i, text: `text ${i}`, values: new Array(8).fill(i) });
    keep.push(objects);
    if (keep.length > 20) keep.shift();
  }
}

const unused = () => {
  const h = getHeapStatistics();
  return h.total_heap_size - h.used_heap_size;
};

test('the collection hands back a heap grown by a burst of allocation', () => {
  allocationBurst();
  assert.ok(unused() >= MIN_SLACK_BYTES, `the burst left ${Math.round(unused() / MB)} MB of the heap unused`);
  const r = releaseHeap();
  assert.ok(r.beforeBytes - r.afterBytes >= MIN_SLACK_BYTES / 2, `heap ${Math.round(r.beforeBytes / MB)} -> ${Math.round(r.afterBytes / MB)} MB`);
  assert.ok(r.ms >= 0);
});

test('an idle thread releases its grown heap by itself; idleMs 0 never starts watching', async () => {
  assert.doesNotThrow(() => releaseHeapWhenIdle({ idleMs: 0 })());
  allocationBurst();
  const releases: HeapRelease[] = [];
  const stop = releaseHeapWhenIdle({ idleMs: 200, onRelease: (r) => releases.push(r) });
  try {
    // The test runner's own work on this thread is light: it soon counts as idle.
    await waitFor(() => releases.length > 0, { timeoutMs: 20_000, intervalMs: 50, what: 'an idle heap release' });
    assert.ok(releases[0].afterBytes < releases[0].beforeBytes);
  } finally {
    stop();
  }
});

test("threads starting at once each get a collection (V8 flags are the whole process's)", async () => {
  const module = new URL('../src/idle-heap-release.js', import.meta.url).href;
  // Each thread asks for its collector as it starts, as HTTP threads do side by side.
  const source = `import { releaseHeap } from ${JSON.stringify(module)};
    import { parentPort } from 'node:worker_threads';
    try { releaseHeap(); parentPort.postMessage('ok'); } catch (e) { parentPort.postMessage(String(e)); }`;
  const answers = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`));
      try {
        return await within(
          new Promise<string>((resolve, reject) => (worker.once('message', resolve), worker.once('error', reject))),
          30_000,
          'a thread answering',
        );
      } finally {
        await worker.terminate();
      }
    }),
  );
  assert.deepEqual(answers, Array(8).fill('ok'));
});
