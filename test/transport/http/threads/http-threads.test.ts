/**
 * --http-threads: the real server with HTTP on worker threads of the one process, against the
 * same server with HTTP on the main thread. Same answers, same errors, concurrency, shutdown.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Coalesce } from '../../../../src/server.js';
import { assertClose, post, startServer } from '../../../helpers/server.js';
import { waitFor } from '../../../helpers/wait-for.js';

let threaded: Coalesce;
let plain: Coalesce;
before(async () => {
  // Threaded with tokenizer workers, plain with inline tokenization: the same answers either way.
  [threaded, plain] = await Promise.all([
    startServer(['--http-threads', '2', '--tokenization-workers', '2', '--max-client-batch-size', '4']),
    startServer(['--max-client-batch-size', '4']),
  ]);
});
after(async () => {
  await Promise.all([threaded.close(), plain.close()]);
});

const TEXTS = ['hello world', 'a somewhat longer sentence about embeddings', 'x', 'coalesce batches concurrent requests into one model call'];

test('HTTP threads answer /embed, /v1/embeddings, /tokenize and /decode exactly as the main thread does', async () => {
  const [a, b] = await Promise.all([post(threaded.httpUrl, '/embed', { inputs: TEXTS }), post(plain.httpUrl, '/embed', { inputs: TEXTS })]);
  assert.equal(a.status, 200, JSON.stringify(a.json));
  a.json.forEach((v: number[], i: number) => assertClose(v, b.json[i], 1e-6, 1e-5, `/embed ${i}`));
  const long = { inputs: ['word '.repeat(100) + 'end'], truncate: true, truncation_direction: 'left' };
  const [la, lb] = await Promise.all([post(threaded.httpUrl, '/embed', long), post(plain.httpUrl, '/embed', long)]);
  assert.equal(la.status, 200, JSON.stringify(la.json));
  assertClose(la.json[0], lb.json[0], 1e-6, 1e-5, '/embed truncated left');
  const [ta, tb] = await Promise.all([post(threaded.httpUrl, '/tokenize', { inputs: TEXTS }), post(plain.httpUrl, '/tokenize', { inputs: TEXTS })]);
  assert.deepEqual(ta.json, tb.json);
  const emb = await post(threaded.httpUrl, '/embed', { inputs: TEXTS[0] });
  assert.equal(emb.headers.get('x-compute-tokens'), '4');
  const [oa, ob] = await Promise.all([
    post(threaded.httpUrl, '/v1/embeddings', { input: TEXTS, model: 'm' }),
    post(plain.httpUrl, '/v1/embeddings', { input: TEXTS, model: 'm' }),
  ]);
  assert.deepEqual({ ...oa.json, data: null }, { ...ob.json, data: null });
  oa.json.data.forEach((d: any, i: number) => {
    assert.equal(d.index, i);
    assertClose(d.embedding, ob.json.data[i].embedding, 1e-6, 1e-5, `/v1/embeddings ${i}`);
  });
  const dec = await post(threaded.httpUrl, '/decode', { ids: [[101, 7592, 2088, 102]] });
  assert.deepEqual(dec.json, (await post(plain.httpUrl, '/decode', { ids: [[101, 7592, 2088, 102]] })).json);
  // TEI's other routes, token ids, OpenAI's model list and the API document, over threads as on the main thread.
  for (const [path, body] of [
    ['/', { inputs: TEXTS[0] }],
    ['/embed', { inputs: [[101, 7592, 2088, 102]] }],
    ['/similarity', { inputs: { source_sentence: TEXTS[0], sentences: TEXTS.slice(0, 3) } }],
  ] as const) {
    const [a, b] = await Promise.all([post(threaded.httpUrl, path, body), post(plain.httpUrl, path, body)]);
    assert.equal(a.status, 200, `${path}: ${JSON.stringify(a.json)}`);
    assertClose(a.json.flat(), b.json.flat(), 1e-6, 1e-5, path);
  }
  const [ma, mb] = (await Promise.all(
    [fetch(threaded.httpUrl + '/v1/models'), fetch(plain.httpUrl + '/v1/models')].map(async (r) => (await r).json()),
  )) as any[];
  assert.deepEqual([ma.data[0].id, ma.data.length], [mb.data[0].id, mb.data.length]);
  const [da, db] = await Promise.all([fetch(threaded.httpUrl + '/openapi.json'), fetch(plain.httpUrl + '/openapi.json')]);
  assert.deepEqual(await da.json(), await db.json());
});

test('each thread carries its kind as its name, so top -H and /proc tell them apart', { skip: !existsSync('/proc/self/task') && 'no /proc' }, () => {
  // Newer Node versions may put `node-` before thread names.
  const names = readdirSync('/proc/self/task').map((tid) =>
    readFileSync(`/proc/self/task/${tid}/comm`, 'utf8')
      .trim()
      .replace(/^node-/, ''),
  );
  const count = (name: string) => names.filter((n) => n === name).length;
  assert.ok(count('http') >= 2, names.join(', '));
  assert.ok(count('tokenizer') >= 2, names.join(', '));
  assert.ok(count('text-session') >= 1, names.join(', '));
});

test('errors cross the thread boundary with their status and shape', async () => {
  const cases: [string, unknown, number][] = [
    ['/embed', { inputs: [] }, 400],
    ['/embed', { inputs: ['a', 'b', 'c', 'd', 'e'] }, 422],
    ['/embed', '{"inputs": [', 400],
    ['/embed', { inputs: ['a'], dimensions: 999 }, 422],
    ['/embed', { inputs: ['a', 'word '.repeat(100)], truncate: false }, 422],
    ['/v1/embeddings', { input: 'a', encoding_format: 'x' }, 400],
    ['/v1/embeddings', { input: 'a', surprise: true }, 400],
    ['/embed', { inputs: [101, 999999] }, 422],
    ['/nope', {}, 404],
  ];
  for (const [path, body, status] of cases) {
    const [a, b] = await Promise.all([post(threaded.httpUrl, path, body), post(plain.httpUrl, path, body)]);
    assert.equal(a.status, status, `${path} ${JSON.stringify(body)}: ${JSON.stringify(a.json)}`);
    assert.deepEqual(a.json, b.json);
  }
});

test('health, info and metrics come from the main thread', async () => {
  assert.equal((await fetch(threaded.httpUrl + '/health')).status, 200);
  const info = (await (await fetch(threaded.httpUrl + '/info')).json()) as any;
  assert.equal(info.http, '2 threads');
  assert.equal(info.config.httpThreads, 2);
  assert.equal(info.dimensions, 32);
  const before = await (await fetch(threaded.httpUrl + '/metrics')).text();
  const count = (text: string) => Number(/^te_request_count (\d+)/m.exec(text)?.[1]);
  await post(threaded.httpUrl, '/embed', { inputs: 'one more' });
  assert.equal(count(await (await fetch(threaded.httpUrl + '/metrics')).text()), count(before) + 1);
  assert.equal(threaded.embedder.admission.inUse, 0);
  assert.equal(threadId, 0, 'the facades run on this (main) thread');
});

test('concurrent clients on many connections all get their own vectors', async () => {
  const single = await Promise.all(TEXTS.map((t) => post(plain.httpUrl, '/embed', { inputs: t })));
  const results = await Promise.all(Array.from({ length: 96 }, (_, i) => post(threaded.httpUrl, '/embed', { inputs: TEXTS[i % TEXTS.length] })));
  results.forEach((r, i) => {
    assert.equal(r.status, 200);
    const want = single[i % TEXTS.length].json[0] as number[];
    r.json[0].forEach((x: number, d: number) => assert.ok(Math.abs(x - want[d]) < 1e-5, `request ${i} dim ${d}`));
  });
});

test('close() finishes admitted requests, then the port refuses connections', async () => {
  const server = await startServer(['--http-threads', '3']);
  // Open the connections first (fetch keeps them alive): a connection still in the kernel's
  // backlog when the listener closes is reset by the kernel, whatever the server does.
  await Promise.all(Array.from({ length: 16 }, () => post(server.httpUrl, '/embed', { inputs: 'connect' })));
  const inFlight = Array.from({ length: 16 }, (_, i) => post(server.httpUrl, '/embed', { inputs: `still answered ${i}` }));
  await waitFor(() => server.embedder.admission.inUse > 0, { what: 'a request being admitted', intervalMs: 0 });
  const admitted = server.embedder.admission.inUse;
  const closing = server.close();
  const answered = await Promise.all(inFlight);
  await closing;
  // Admitted requests are answered; later ones get 503 as the server drains. None is cut off.
  for (const r of answered) assert.ok(r.status === 200 || r.status === 503, `${r.status} ${JSON.stringify(r.json)}`);
  assert.ok(answered.filter((r) => r.status === 200).length >= admitted, `${admitted} admitted`);
  await assert.rejects(fetch(server.httpUrl + '/health'));
});

test('a taken port fails the start with a clear error', async () => {
  const port = new URL(plain.httpUrl).port;
  await assert.rejects(startServer(['--http-threads', '2', '--port', port]), /EADDRINUSE|address already in use/);
});
