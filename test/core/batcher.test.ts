import { test } from 'node:test';
import assert from 'node:assert/strict';
/** The Batcher's own behaviour; what every text queue must do is in queue-contract.case.ts (batcher.contract.test.ts). */
import { Batcher, type BatchStats } from '../../src/core/batcher.js';
import { FakeBackend, ids, within } from '../helpers/fake-backend.js';

const nextTurn = () => new Promise((r) => setImmediate(r));

test('inputs submitted in the same turn share one model call', async () => {
  const backend = new FakeBackend();
  const batcher = new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 100 });
  const results = await within(Promise.all([batcher.submit([ids(3, 11)]), batcher.submit([ids(3, 12), ids(3, 13)])]));
  assert.equal(backend.batches.length, 1);
  assert.equal(backend.batches[0].length, 3);
  assert.deepEqual(
    results.map((r) => r.map((o) => o.vector[1])),
    [[11], [12, 13]],
  );
});

test('requests arriving while a batch runs are coalesced into the next one', async () => {
  const backend = new FakeBackend();
  const open = backend.hold();
  const batcher = new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 100 });
  const first = batcher.submit([ids(4)]);
  await nextTurn();
  await nextTurn();
  assert.equal(backend.batches.length, 1, 'the first input ran alone, without waiting for a timer');
  const later = Array.from({ length: 10 }, (_, i) => batcher.submit([ids(4, 100 + i)]));
  open();
  await within(Promise.all([first, ...later]));
  assert.equal(backend.batches.length, 2);
  assert.equal(backend.batches[1].length, 10);
});

test("onBatch reports each call: size, padded and real tokens, its duration and the backend's own share of it", async () => {
  const backend = new FakeBackend();
  backend.delayMs = 5;
  backend.sessionMs = 2.5;
  const seen: BatchStats[] = [];
  const batcher = new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 100, minPaddingEfficiency: 0, onBatch: (b) => seen.push(b) });
  await within(Promise.all([batcher.submit([ids(4)]), batcher.submit([ids(4), ids(3)])]));
  assert.equal(seen.length, 1);
  const [b] = seen;
  assert.deepEqual({ size: b.size, units: b.units, useful: b.useful, sessionMs: b.sessionMs }, { size: 3, units: 12, useful: 11, sessionMs: 2.5 });
  assert.ok(b.inferenceMs >= 4, `inferenceMs ${b.inferenceMs} is shorter than the backend's 5 ms`);
});

test('an input longer than the budget still runs, alone', async () => {
  const backend = new FakeBackend();
  const batcher = new Batcher(backend, { maxBatchTokens: 8, maxBatchRequests: 10 });
  const [out] = await within(batcher.submit([ids(20)]));
  assert.equal(out.vector[0], 20);
});

test('inputs are grouped by length so short ones are not padded to long ones', async () => {
  const backend = new FakeBackend();
  const open = backend.hold();
  const batcher = new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 4 });
  const blocker = batcher.submit([ids(1)]);
  await nextTurn();
  const lengths = [100, 5, 100, 6, 100, 5, 100, 6];
  const all = lengths.map((n) => batcher.submit([ids(n)]));
  open();
  await within(Promise.all([blocker, ...all]));
  const formed = backend.batches.slice(1).map((b) => b.map((x) => x.length).sort((a, c) => a - c));
  assert.deepEqual(formed, [
    [100, 100, 100, 100],
    [5, 5, 6, 6],
  ]);
});

test('the oldest input is always in the next batch, so nothing starves', async () => {
  const backend = new FakeBackend();
  const open = backend.hold();
  const batcher = new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 2 });
  const blocker = batcher.submit([ids(1)]);
  await nextTurn();
  const old = batcher.submit([ids(300, 99)]);
  const short = Array.from({ length: 6 }, () => batcher.submit([ids(3)]));
  open();
  await within(Promise.all([blocker, old, ...short]));
  assert.ok(
    backend.batches[1].some((b) => b[0] === 99),
    'the long, oldest input runs in the first batch after the blocker',
  );
});

test('several batches run at once when the backend allows it', async () => {
  const backend = new FakeBackend();
  backend.maxConcurrentBatches = 2;
  const open = backend.hold();
  const batcher = new Batcher(backend, { maxBatchTokens: 10_000, maxBatchRequests: 1 });
  const all = [batcher.submit([ids(2)]), batcher.submit([ids(2)]), batcher.submit([ids(2)])];
  await nextTurn();
  await nextTurn();
  assert.equal(batcher.running, 2);
  open();
  await within(Promise.all(all));
});

test('a finished call hands the backend its next batch before its own requests are answered', async () => {
  const backend = new FakeBackend();
  const open = backend.hold();
  const batcher = new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 100 });
  const first = batcher.submit([ids(4)]);
  await nextTurn();
  const second = batcher.submit([ids(4)]);
  await nextTurn();
  assert.equal(backend.batches.length, 1, 'the second input waits while the only call runs');
  const callsWhenFirstAnswered = first.then(() => backend.batches.length);
  open();
  assert.equal(await within(callsWhenFirstAnswered), 2);
  await within(second);
});
