import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchHook } from '../src/batch-log.js';
import type { BatchStats } from '../src/core/batcher.js';

const stats: BatchStats = { size: 3, units: 48, useful: 40, inferenceMs: 4.123456, sessionMs: 3.987 };

test('without a logger the hook is the metrics hook itself', () => {
  const observe = (_: BatchStats) => {};
  assert.equal(batchHook(observe, null, 'text'), observe);
});

test('a text call is observed, then logged with its tokens and both times', () => {
  const seen: BatchStats[] = [];
  const lines: [string, Record<string, unknown> | undefined][] = [];
  const hook = batchHook((b) => seen.push(b), (m, f) => lines.push([m, f]), 'text');
  hook(stats);
  assert.deepEqual(seen, [stats]);
  assert.deepEqual(lines, [['batch', { kind: 'text', inputs: 3, tokens: 40, padded_tokens: 48, ms: 4.12, session_ms: 3.99 }]]);
});

test('an image call has no tokens, and no session time when the backend did not give one', () => {
  const lines: (Record<string, unknown> | undefined)[] = [];
  batchHook(() => {}, (_, f) => lines.push(f), 'image')({ size: 8, units: 8, useful: 8, inferenceMs: 12 });
  assert.deepEqual(lines, [{ kind: 'image', inputs: 8, ms: 12 }]);
});
