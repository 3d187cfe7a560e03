import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.js';
import { startCoalesce, type Coalesce } from '../../src/server.js';
import { TINY_BERT, post } from '../helpers/server.js';
import { waitFor } from '../helpers/wait-for.js';
import { httpCall, startServerProcess } from '../helpers/server-process.js';

/** The real server with shape buckets on the CPU, and the fields of its 'model loaded' log line. */
async function start(args: string[]): Promise<{ server: Coalesce; loaded: Record<string, unknown> }> {
  let loaded: Record<string, unknown> | null = null;
  const config = loadConfig(['--model', TINY_BERT, '--port', '0', '--grpc-port', '0', '--hostname', '127.0.0.1', '--shape-buckets', 'on', ...args], {});
  const server = await startCoalesce(config, (message, fields = {}) => {
    if (message === 'model loaded') loaded = fields;
  });
  assert.ok(loaded, "no 'model loaded' log line");
  return { server, loaded };
}

const info = async (server: Coalesce) =>
  (await (await fetch(server.httpUrl + '/info')).json()) as { warmup: { state: string; shapes_done: number; shapes_total: number } };

for (const queue of ['main', 'shared']) {
  test(`--shape-warmup background: healthy before every bucket shape is warm, the rest warm while serving (${queue} batch queue)`, async () => {
    const { server, loaded } = await start(['--shape-warmup', 'background', '--batch-queue', queue]);
    try {
      const health = await fetch(server.httpUrl + '/health');
      assert.equal(health.status, 200);
      const first = (await info(server)).warmup;
      // tiny-bert's 64-token lengths in batches of more than 32 rows are not among the common shapes.
      assert.ok(first.shapes_total > (loaded.warmedShapes as number), `all ${first.shapes_total} shapes were warmed before healthy (${loaded.warmedShapes})`);
      assert.ok((loaded.warmedShapes as number) > 0);
      // Requests are answered while the rest warm, and the rest do get warm.
      const embedded = await post(server.httpUrl, '/embed', { inputs: ['one text', 'another text'] });
      assert.equal(embedded.status, 200);
      assert.equal(embedded.json.length, 2);
      let last = first;
      await waitFor(
        async () => {
          last = (await info(server)).warmup;
          return last.state === 'done';
        },
        { timeoutMs: 60_000, intervalMs: 50, what: () => `background warm-up to finish (last: ${JSON.stringify(last)})` },
      );
      assert.equal(last.shapes_done, last.shapes_total);
      assert.equal(last.shapes_total, first.shapes_total);
    } finally {
      await server.close();
    }
  });
}

test('--shape-warmup load (default): every bucket shape is warm before healthy; without buckets /info says off', async () => {
  const { server, loaded } = await start([]);
  try {
    const w = (await info(server)).warmup;
    assert.equal(w.state, 'done');
    assert.equal(w.shapes_done, w.shapes_total);
    assert.equal(loaded.warmedShapes, w.shapes_total);
  } finally {
    await server.close();
  }
  const off = await startCoalesce(
    loadConfig(['--model', TINY_BERT, '--port', '0', '--grpc-port', '0', '--hostname', '127.0.0.1', '--shape-buckets', 'off'], {}),
    () => {},
  );
  try {
    assert.deepEqual((await info(off)).warmup, { state: 'off', shapes_done: 0, shapes_total: 0 });
  } finally {
    await off.close();
  }
});

test('a server stopped while shapes still warm in the background exits cleanly', async () => {
  // Large budgets: many big shapes left to warm after healthy, so SIGTERM lands while one runs.
  const server = await startServerProcess([
    '--shape-buckets',
    'on',
    '--shape-warmup',
    'background',
    '--max-batch-requests',
    '2048',
    '--max-batch-tokens',
    '131072',
    '--shutdown-grace',
    '0',
  ]);
  let stderr = '';
  server.child.stderr!.on('data', (c: string) => (stderr += c));
  try {
    const info = JSON.parse((await httpCall(server.httpUrl, 'GET', '/info')).body) as { warmup: { state: string } };
    assert.equal(info.warmup.state, 'background');
  } finally {
    server.child.kill('SIGTERM');
  }
  // Terminating a session thread inside session.run aborted the process (exit 134, "terminate called").
  assert.equal(await server.exited, 0, stderr.slice(-1000));
  assert.doesNotMatch(stderr, /terminate called/);
});
