import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../src/core/batcher.js';
import { Embedder } from '../../src/core/embedder.js';
import { effectiveDeadline } from '../../src/core/deadline.js';
import { CallCancellation } from '../../src/core/cancellation.js';
import { isCoalesceError } from '../../src/errors.js';
import { charEncoder, FakeBackend, within } from '../helpers/fake-backend.js';
import { waitFor } from '../helpers/wait-for.js';

function setup(queueTimeoutMs?: number) {
  const backend = new FakeBackend();
  const e = new Embedder(
    backend.info,
    charEncoder,
    new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 64 }),
    { maxClientBatchSize: 4, autoTruncate: false, queueTimeoutMs },
    8,
  );
  e.markReady(true);
  const ran = () => backend.batches.flat().map((ids) => String.fromCharCode(...ids));
  return { e, backend, ran };
}

const isDeadline = (err: unknown) => isCoalesceError(err) && err.kind === 'deadline';

test('the earliest of the request deadline and the server default applies; 0 is no default', () => {
  assert.equal(effectiveDeadline(undefined, 0, 1000), undefined);
  assert.equal(effectiveDeadline(undefined, 50, 1000), 1050);
  assert.equal(effectiveDeadline(1020, 50, 1000), 1020);
  assert.equal(effectiveDeadline(5000, 50, 1000), 1050);
  assert.equal(effectiveDeadline(5000, undefined, 1000), 5000);
});

test('a request whose deadline passes while queued fails with deadline, and its inputs never reach the model', async () => {
  const { e, backend, ran } = setup();
  const release = backend.hold();
  const blocker = e.embed({ inputs: ['a'], normalize: false });
  await waitFor(() => ran().length === 1, { what: 'the blocker runs' });
  const late = e.embed({ inputs: ['late', 'late2'], normalize: false, deadline: Date.now() + 60 });
  await within(assert.rejects(late, isDeadline), 3000, 'the expired request');
  assert.equal(e.admission.inUse, 1, 'the expired request released its permit');
  assert.equal(e.queueDepth, 0, 'its inputs no longer wait');
  release();
  await within(blocker);
  await within(e.embed({ inputs: ['b'], normalize: false }));
  assert.deepEqual(ran(), ['a', 'b']);
});

test('the server default (--queue-timeout) bounds requests without a deadline; a later client deadline does not extend it', async () => {
  const { e, backend, ran } = setup(60);
  const release = backend.hold();
  // The blocker runs past its own default deadline in the model: answered at that deadline too.
  const blocker = assert.rejects(e.embed({ inputs: ['a'], normalize: false }), isDeadline);
  await waitFor(() => ran().length === 1, { what: 'the blocker runs' });
  await within(assert.rejects(e.embed({ inputs: ['x'], normalize: false, deadline: Date.now() + 60_000 }), isDeadline), 3000, 'the expired request');
  await within(blocker, 3000, 'the blocker past its deadline');
  release();
  await within(e.embed({ inputs: ['b'], normalize: false }));
  assert.deepEqual(ran(), ['a', 'b']);
});

test('a deadline already past is refused before tokenizing; a cancellation still answers cancelled', async () => {
  const { e, ran } = setup();
  await assert.rejects(e.embed({ inputs: ['x'], normalize: false, deadline: Date.now() - 1 }), isDeadline);
  const signal = new CallCancellation();
  signal.abort();
  await assert.rejects(
    e.embed({ inputs: ['x'], normalize: false, signal, deadline: Date.now() + 10_000 }),
    (err) => isCoalesceError(err) && err.kind === 'cancelled',
  );
  assert.deepEqual(ran(), []);
  assert.equal(e.admission.inUse, 0);
  // With time left, the request runs as usual.
  assert.equal((await within(e.embed({ inputs: ['ok'], normalize: false, deadline: Date.now() + 10_000 }))).vectors[0][0], 2);
});
