import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallCancellation, toAbortSignal } from '../../src/core/cancellation.js';

test('CallCancellation calls each listener still registered once, and none added after it aborted', () => {
  const c = new CallCancellation();
  const calls: string[] = [];
  const kept = () => calls.push('kept');
  const removed = () => calls.push('removed');
  c.addEventListener('abort', kept);
  c.addEventListener('abort', removed);
  c.removeEventListener('abort', removed);
  assert.equal(c.aborted, false);
  c.abort();
  c.abort();
  assert.equal(c.aborted, true);
  c.addEventListener('abort', () => calls.push('late'));
  assert.deepEqual(calls, ['kept']);
});

test('toAbortSignal passes an AbortSignal through and makes one that follows a CallCancellation', () => {
  const native = new AbortController().signal;
  assert.equal(toAbortSignal(native), native);
  const c = new CallCancellation();
  const followed = toAbortSignal(c);
  assert.equal(followed.aborted, false);
  c.abort();
  assert.equal(followed.aborted, true);
  assert.equal(toAbortSignal(c).aborted, true, 'already cancelled');
});
