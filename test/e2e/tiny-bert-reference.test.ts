/**
 * Served vectors against PyTorch references computed on the device machine
 * (scripts/device/make_bert_fixture.py): same model file, independent implementation.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Coalesce } from '../../src/server.js';
import { assertClose, cosine, post, startServer, TINY_BERT } from '../helpers/server.js';

interface Reference {
  sentences: string[];
  input_ids: number[][];
  mean_normalized: number[][];
  mean: number[][];
  cls: number[][];
  max: number[][];
  lasttoken: number[][];
  long_left_truncated: { input_ids: number[]; mean_normalized: number[] };
}
const ref = JSON.parse(readFileSync(`${TINY_BERT}/reference.json`, 'utf8')) as Reference;
const MIN_COSINE = 0.9999;

let server: Coalesce;
before(async () => {
  server = await startServer();
});
after(() => server.close());

test('normalized mean-pooled vectors match sentence-transformers (cosine >= 0.9999)', async () => {
  const { status, json } = await post(server.httpUrl, '/embed', { inputs: ref.sentences, truncate: true });
  assert.equal(status, 200);
  json.forEach((v: number[], i: number) => {
    assert.ok(
      cosine(v, ref.mean_normalized[i]) >= MIN_COSINE,
      `sentence ${i} (${JSON.stringify(ref.sentences[i]).slice(0, 40)}): cosine ${cosine(v, ref.mean_normalized[i])}`,
    );
    assertClose(v, ref.mean_normalized[i], 1e-5, 1e-3, `sentence ${i}`);
  });
});

test('normalize=false returns the raw pooled vector', async () => {
  const { json } = await post(server.httpUrl, '/embed', { inputs: ref.sentences, truncate: true, normalize: false });
  json.forEach((v: number[], i: number) => assertClose(v, ref.mean[i], 1e-5, 1e-3, `sentence ${i}`));
});

test('token ids match the Hugging Face tokenizer', async () => {
  const { json } = await post(server.httpUrl, '/tokenize', { inputs: ref.sentences, truncate: true });
  json.forEach((tokens: { id: number }[], i: number) =>
    assert.deepEqual(
      tokens.map((t) => t.id),
      ref.input_ids[i],
      `sentence ${i}`,
    ),
  );
});

test('left truncation keeps the end of the text', async () => {
  const long = ref.sentences[ref.sentences.length - 1];
  const { json } = await post(server.httpUrl, '/embed', { inputs: long, truncate: true, truncation_direction: 'Left' });
  assert.ok(cosine(json[0], ref.long_left_truncated.mean_normalized) >= MIN_COSINE);
  const tokens = await post(server.httpUrl, '/tokenize', { inputs: long, truncate: true, truncation_direction: 'left' });
  assert.deepEqual(
    tokens.json[0].map((t: { id: number }) => t.id),
    ref.long_left_truncated.input_ids,
  );
});

test('a text embedded alone equals the same text inside a mixed-length batch', async () => {
  const alone = await Promise.all(ref.sentences.map((s) => post(server.httpUrl, '/embed', { inputs: s, truncate: true })));
  const together = await post(server.httpUrl, '/embed', { inputs: ref.sentences, truncate: true });
  ref.sentences.forEach((_, i) => assertClose(alone[i].json[0], together.json[i], 1e-6, 1e-4, `sentence ${i}`));
});

test('concurrent single requests coalesce into shared model calls and still match the references', async () => {
  const countBefore = await server.metrics.count(server.metrics.batchSize);
  const responses = await Promise.all(
    Array.from({ length: 48 }, (_, k) => post(server.httpUrl, '/embed', { inputs: ref.sentences[k % ref.sentences.length], truncate: true })),
  );
  responses.forEach((r, k) => assert.ok(cosine(r.json[0], ref.mean_normalized[k % ref.sentences.length]) >= MIN_COSINE));
  const calls = (await server.metrics.count(server.metrics.batchSize)) - countBefore;
  assert.ok(calls < 48, `48 concurrent requests took ${calls} model calls: nothing was coalesced`);
  // Every call's time in its session thread is exported, and is part of the call's time.
  const metrics = await (await fetch(server.httpUrl + '/metrics')).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(read('coalesce_batch_session_duration_count'), read('te_batch_inference_duration_count'));
  assert.ok(read('coalesce_batch_session_duration_sum') > 0);
  assert.ok(read('coalesce_batch_session_duration_sum') <= read('te_batch_inference_duration_sum'));
});

test('--batch-queue shared: batches the session threads take from shared memory give the same vectors, and coalesce too', async () => {
  const other = await startServer(['--batch-queue', 'shared']);
  try {
    const countBefore = await other.metrics.count(other.metrics.batchSize);
    const responses = await Promise.all(
      Array.from({ length: 48 }, (_, k) => post(other.httpUrl, '/embed', { inputs: ref.sentences[k % ref.sentences.length], truncate: true })),
    );
    const fromMain = await post(server.httpUrl, '/embed', { inputs: ref.sentences, truncate: true });
    responses.forEach((r, k) => assertClose(r.json[0], fromMain.json[k % ref.sentences.length], 1e-6, 1e-4, `request ${k}`));
    const batchQueue = async (s: Coalesce) => ((await (await fetch(s.httpUrl + '/info')).json()) as { batch_queue: string }).batch_queue;
    assert.equal(await batchQueue(other), 'shared');
    assert.equal(await batchQueue(server), 'main', '--batch-queue auto on the CPU');
    const calls = (await other.metrics.count(other.metrics.batchSize)) - countBefore;
    assert.ok(calls < 48, `48 concurrent requests took ${calls} model calls: nothing was coalesced`);
  } finally {
    await other.close();
  }
});

for (const pooling of ['cls', 'max', 'last_token'] as const) {
  test(`--pooling ${pooling} matches sentence-transformers' ${pooling} pooling`, async () => {
    const other = await startServer(['--pooling', pooling]);
    try {
      const { json } = await post(other.httpUrl, '/embed', { inputs: ref.sentences, truncate: true, normalize: false });
      const expected = pooling === 'last_token' ? ref.lasttoken : ref[pooling];
      json.forEach((v: number[], i: number) => assertClose(v, expected[i], 1e-5, 1e-3, `${pooling} sentence ${i}`));
    } finally {
      await other.close();
    }
  });
}
