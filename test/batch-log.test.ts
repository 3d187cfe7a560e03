import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchHook } from '../src/batch-log.js';
import { loadConfig } from '../src/config.js';
import type { BatchStats } from '../src/core/batcher.js';
import { startCoalesce } from '../src/server.js';
import { post, TINY_BERT } from './helpers/server.js';

const stats: BatchStats = { size: 3, units: 48, useful: 40, inferenceMs: 4.123456, sessionMs: 3.987 };

test('without a logger the hook is the metrics hook itself', () => {
  const observe = (_: BatchStats) => {};
  assert.equal(batchHook(observe, null, 'text'), observe);
});

test('a text call is observed, then logged with its tokens and both times', () => {
  const seen: BatchStats[] = [];
  const lines: [string, Record<string, unknown> | undefined][] = [];
  const hook = batchHook(
    (b) => seen.push(b),
    (m, f) => lines.push([m, f]),
    'text',
  );
  hook(stats);
  assert.deepEqual(seen, [stats]);
  assert.deepEqual(lines, [['batch', { kind: 'text', inputs: 3, tokens: 40, padded_tokens: 48, ms: 4.12, session_ms: 3.99 }]]);
});

test('an image call has no tokens, and no session time when the backend did not give one', () => {
  const lines: (Record<string, unknown> | undefined)[] = [];
  batchHook(
    () => {},
    (_, f) => lines.push(f),
    'image',
  )({ size: 8, units: 8, useful: 8, inferenceMs: 12 });
  assert.deepEqual(lines, [{ kind: 'image', inputs: 8, ms: 12 }]);
});

test('a server started with --log-batches logs the model call of a request, with its inputs and tokens', async () => {
  const lines: [string, Record<string, unknown> | undefined][] = [];
  const config = loadConfig(['--model', TINY_BERT, '--port', '0', '--grpc-port', '-1', '--hostname', '127.0.0.1', '--log-batches'], {});
  const server = await startCoalesce(config, (m, f) => lines.push([m, f]));
  try {
    const before = lines.length;
    const res = await post(server.httpUrl, '/embed', { inputs: ['one text', 'and another one'] });
    assert.equal(res.status, 200);
    const calls = lines
      .slice(before)
      .filter(([m]) => m === 'batch')
      .map(([, f]) => f!);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].kind, 'text');
    assert.equal(calls[0].inputs, 2);
    assert.ok((calls[0].tokens as number) >= 6 && (calls[0].ms as number) > 0, JSON.stringify(calls[0]));
  } finally {
    await server.close();
  }
});
