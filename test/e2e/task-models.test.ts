/**
 * The task models end to end against PyTorch: tiny real architectures with seeded random weights
 * (scripts/device/make_task_fixtures.py), served over HTTP and over gRPC with a client generated
 * from TEI's own tei.proto. References: CrossEncoder.predict and the reranker's logits, the
 * classifier's logits and transformers' text-classification pipeline, sentence-transformers'
 * SparseEncoder, and ColBERT token vectors / MaxSim computed by PyTorch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Coalesce } from '../../src/server.js';
import { assertClose, post, startServer } from '../helpers/server.js';

const FIXTURES = 'test/fixtures';
const ATOL = 1e-6;
const RTOL = 1e-4;

type Ref = Record<string, any>;
const ref = (name: string): Ref => JSON.parse(readFileSync(join(FIXTURES, name, 'reference.json'), 'utf8'));
const servers: Record<string, Coalesce> = {};
const clients: grpc.Client[] = [];
let tei: any;

before(async () => {
  for (const name of ['tiny-reranker', 'tiny-classifier', 'tiny-splade', 'tiny-colbert']) servers[name] = await startServer([], join(FIXTURES, name));
  const definition = protoLoader.loadSync(join(FIXTURES, 'tei-proto', 'tei.proto'), { keepCase: true, longs: Number, enums: String, defaults: true });
  tei = (grpc.loadPackageDefinition(definition) as any).tei.v1;
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(Object.values(servers).map((s) => s.close()));
});

function stub(model: string, service: string): any {
  const c = new tei[service](servers[model].grpcUrl!, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}
const unary = <T = any>(c: any, method: string, request: object): Promise<T> =>
  new Promise((resolve, reject) => c[method](request, (e: grpc.ServiceError | null, r: T) => (e ? reject(e) : resolve(r))));

/** Scores back in input order from a ranking. */
const byIndex = (ranks: { index: number; score: number }[]) => ranks.reduce<number[]>((out, r) => ((out[r.index] = r.score), out), []);
/** Indices by score, highest first, as PyTorch's scores rank them. */
const ranking = (scores: number[]) =>
  scores
    .map((s, i) => [s, i] as const)
    .sort((a, b) => b[0] - a[0])
    .map(([, i]) => i);

test('/info and POST / say what each model is', async () => {
  const kinds = { 'tiny-reranker': 'reranker', 'tiny-classifier': 'classifier', 'tiny-splade': 'sparse', 'tiny-colbert': 'multi-vector' };
  for (const [model, kind] of Object.entries(kinds)) {
    const info: any = await (await fetch(`${servers[model].httpUrl}/info`)).json();
    assert.equal(info.kind, kind, model);
  }
  const classifier: any = await (await fetch(`${servers['tiny-classifier'].httpUrl}/info`)).json();
  assert.deepEqual(classifier.model_type, {
    classifier: { id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' }, label2id: { negative: 0, neutral: 1, positive: 2 } },
  });
});

test('rerank: raw logits and sigmoid scores match PyTorch, the ranking is identical, long documents cut longest first', async () => {
  const r = ref('tiny-reranker');
  const { httpUrl } = servers['tiny-reranker'];
  const raw = await post(httpUrl, '/rerank', { query: r.query, texts: r.documents, raw_scores: true });
  assert.equal(raw.status, 200, JSON.stringify(raw.json));
  assertClose(byIndex(raw.json), r.raw_scores, ATOL, RTOL, 'raw scores');
  const scored = await post(httpUrl, '/rerank', { query: r.query, texts: r.documents, return_text: true });
  assertClose(byIndex(scored.json), r.scores, ATOL, RTOL, 'CrossEncoder.predict scores');
  assert.deepEqual(
    scored.json.map((x: any) => x.index),
    ranking(r.scores),
  );
  for (const x of scored.json) assert.equal(x.text, r.documents[x.index]);
  // POST / on a reranker is /rerank (TEI dispatches by model kind).
  const root = await post(httpUrl, '/', { query: r.query, texts: r.documents });
  assert.deepEqual(
    root.json,
    scored.json.map(({ index, score }: any) => ({ index, score })),
  );
});

test('rerank: a pair scored with 31 others gives the score it gets alone', async () => {
  const r = ref('tiny-reranker');
  const { httpUrl } = servers['tiny-reranker'];
  const many = Array.from({ length: 32 }, (_, i) => r.documents[i % r.documents.length]);
  const [batched, alone] = await Promise.all([
    post(httpUrl, '/rerank', { query: r.query, texts: many, raw_scores: true }),
    post(httpUrl, '/rerank', { query: r.query, texts: [r.documents[6]], raw_scores: true }),
  ]);
  const scores = byIndex(batched.json);
  assertClose([scores[6], scores[14]], [alone.json[0].score, alone.json[0].score], 1e-6, 1e-5, 'batched vs alone');
});

test('/v1/rerank (Cohere / Jina shape): top_n, return_documents, object documents', async () => {
  const r = ref('tiny-reranker');
  const res = await post(servers['tiny-reranker'].httpUrl, '/v1/rerank', {
    model: 'reranker',
    query: r.query,
    documents: r.documents.map((text: string, i: number) => (i % 2 ? { text } : text)),
    top_n: 3,
    return_documents: true,
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.model, 'reranker');
  assert.deepEqual(
    res.json.results.map((x: any) => x.index),
    ranking(r.scores).slice(0, 3),
  );
  for (const x of res.json.results) {
    assert.ok(Math.abs(x.relevance_score - r.scores[x.index]) < 1e-5);
    assert.deepEqual(x.document, { text: r.documents[x.index] });
  }
  assert.ok(res.json.usage.total_tokens > 0);
  const bad = await post(servers['tiny-reranker'].httpUrl, '/v1/rerank', { query: r.query, documents: [1] });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /documents\[0\]/);
});

test('rerank over gRPC (tei.v1.Rerank, unary and client stream) matches PyTorch', async () => {
  const r = ref('tiny-reranker');
  const rerank = stub('tiny-reranker', 'Rerank');
  const res = await unary(rerank, 'Rerank', { query: r.query, texts: r.documents, raw_scores: true, return_text: true });
  assertClose(byIndex(res.ranks), r.raw_scores, ATOL, RTOL, 'gRPC raw scores');
  for (const rank of res.ranks) assert.equal(rank.text, r.documents[rank.index]);
  const streamed = await new Promise<any>((resolve, reject) => {
    const call = rerank.RerankStream((e: grpc.ServiceError | null, out: any) => (e ? reject(e) : resolve(out)));
    for (const text of r.documents) call.write({ query: r.query, text });
    call.end();
  });
  assertClose(byIndex(streamed.ranks), r.scores, ATOL, RTOL, 'gRPC stream scores');
});

test('predict: labels with softmax scores as the pipeline, raw logits, text pairs, one input or many', async () => {
  const r = ref('tiny-classifier');
  const { httpUrl } = servers['tiny-classifier'];
  const all = await post(httpUrl, '/predict', { inputs: r.sentences });
  assert.equal(all.status, 200, JSON.stringify(all.json));
  all.json.forEach((predictions: any[], i: number) => {
    assert.deepEqual(
      predictions.map((p) => p.label),
      r.pipeline[i].map((p: any) => p.label),
      `labels of ${i}`,
    );
    assertClose(
      predictions.map((p) => p.score),
      r.pipeline[i].map((p: any) => p.score),
      ATOL,
      RTOL,
      `pipeline scores of ${i}`,
    );
  });
  const raw = await post(httpUrl, '/predict', { inputs: r.sentences[1], raw_scores: true });
  const logits = Object.fromEntries(raw.json.map((p: any) => [p.label, p.score]));
  assertClose([logits.negative, logits.neutral, logits.positive], r.single_logits[1], ATOL, RTOL, 'single logits');
  // A list of exactly two strings is one pair, as in TEI; a list of pairs is a batch.
  const pairs = await post(httpUrl, '/predict', { inputs: r.pairs, raw_scores: true });
  pairs.json.forEach((predictions: any[], i: number) => {
    const byLabel = Object.fromEntries(predictions.map((p) => [p.label, p.score]));
    assertClose([byLabel.negative, byLabel.neutral, byLabel.positive], r.pair_logits[i], ATOL, RTOL, `pair logits ${i}`);
  });
  const one = await post(httpUrl, '/predict', { inputs: r.pairs[0] });
  assertClose(
    one.json.map((p: any) => p.score),
    [...r.pair_softmax[0]].sort((a: number, b: number) => b - a),
    ATOL,
    RTOL,
    'one pair',
  );
});

test('predict over gRPC (Predict, PredictPair) matches the logits', async () => {
  const r = ref('tiny-classifier');
  const predict = stub('tiny-classifier', 'Predict');
  const single = await unary(predict, 'Predict', { inputs: r.sentences[2], raw_scores: true });
  const byLabel = (ps: any[]) => Object.fromEntries(ps.map((p) => [p.label, p.score]));
  const s = byLabel(single.predictions);
  assertClose([s.negative, s.neutral, s.positive], r.single_logits[2], ATOL, RTOL, 'gRPC Predict');
  const pair = await unary(predict, 'PredictPair', { inputs: r.pairs[1], raw_scores: true });
  const p = byLabel(pair.predictions);
  assertClose([p.negative, p.neutral, p.positive], r.pair_logits[1], ATOL, RTOL, 'gRPC PredictPair');
});

test('embed_sparse: the same non-zero terms as SparseEncoder, values to 1e-4, over HTTP and gRPC', async () => {
  const r = ref('tiny-splade');
  const { httpUrl } = servers['tiny-splade'];
  const res = await post(httpUrl, '/embed_sparse', { inputs: r.sentences });
  assert.equal(res.status, 200, JSON.stringify(res.json).slice(0, 200));
  res.json.forEach((vector: { index: number; value: number }[], i: number) => {
    assert.deepEqual(
      vector.map((v) => v.index),
      r.sparse[i].map(([index]: number[]) => index),
      `indices of ${i}`,
    );
    assertClose(
      vector.map((v) => v.value),
      r.sparse[i].map(([, value]: number[]) => value),
      ATOL,
      RTOL,
      `values of ${i}`,
    );
  });
  // Alone, it is what it was in the batch.
  const alone = await post(httpUrl, '/', { inputs: r.sentences[3] });
  assert.deepEqual(alone.json[0], res.json[3]);
  const grpcOut = await unary(stub('tiny-splade', 'Embed'), 'EmbedSparse', { inputs: r.sentences[1] });
  assert.deepEqual(
    grpcOut.sparse_embeddings.map((v: any) => v.index),
    r.sparse[1].map(([index]: number[]) => index),
  );
});

test('embed_all and MaxSim on a ColBERT-layout model: projected, normalized token vectors as PyTorch computes them', async () => {
  const r = ref('tiny-colbert');
  const { httpUrl } = servers['tiny-colbert'];
  const res = await post(httpUrl, '/embed_all', { inputs: r.sentences });
  assert.equal(res.status, 200, JSON.stringify(res.json).slice(0, 200));
  res.json.forEach((tokens: number[][], i: number) => {
    assert.equal(tokens.length, r.token_vectors[i].length, `tokens of ${i}`);
    assertClose(tokens.flat(), r.token_vectors[i].flat(), ATOL, RTOL, `token vectors of ${i}`);
  });
  const ranked = await post(httpUrl, '/rerank', { query: r.query, texts: r.documents });
  assertClose(byIndex(ranked.json), r.maxsim, ATOL, RTOL, 'MaxSim');
  assert.deepEqual(
    ranked.json.map((x: any) => x.index),
    ranking(r.maxsim),
  );
  const grpcOut = await unary(stub('tiny-colbert', 'Embed'), 'EmbedAll', { inputs: r.sentences[0] });
  assertClose(
    grpcOut.token_embeddings.flatMap((t: any) => t.embeddings),
    r.token_vectors[0].flat(),
    ATOL,
    RTOL,
    'gRPC EmbedAll',
  );
});

test('a route the model cannot serve answers 424 naming what the model is; gRPC FAILED_PRECONDITION', async () => {
  const cases: [string, string, object, RegExp][] = [
    ['tiny-reranker', '/embed', { inputs: 'x' }, /not an embedding model: this server's model is a re-ranker/],
    ['tiny-classifier', '/rerank', { query: 'q', texts: ['x'] }, /not a re-ranker model: this server's model is a classifier/],
    ['tiny-splade', '/predict', { inputs: 'x' }, /not a classifier model: this server's model is a sparse \(SPLADE\) model/],
    ['tiny-colbert', '/embed_sparse', { inputs: 'x' }, /not a sparse \(SPLADE\) model: this server's model is a multi-vector/],
  ];
  for (const [model, path, body, message] of cases) {
    const res = await post(servers[model].httpUrl, path, body);
    assert.equal(res.status, 424, `${model} ${path}`);
    assert.match(res.json.error, message);
    assert.equal(res.json.error_type, 'Backend');
  }
  const openai = await post(servers['tiny-splade'].httpUrl, '/v1/embeddings', { input: 'x' });
  assert.equal(openai.status, 400);
  const e = await unary(stub('tiny-reranker', 'Embed'), 'Embed', { inputs: 'x' }).catch((e) => e);
  assert.equal(e.code, grpc.status.FAILED_PRECONDITION);
});

test('task routes validate their bodies: status and a message naming the field', async () => {
  const { httpUrl } = servers['tiny-reranker'];
  for (const [path, body, field] of [
    ['/rerank', { query: 'q' }, /`texts` is required/],
    ['/rerank', { query: 'q', texts: [] }, /^`texts` cannot be empty$/],
    ['/rerank', { query: 1, texts: ['a'] }, /`query` must be a string/],
    ['/predict', { inputs: [['a', 'b', 'c']] }, /`inputs/],
    ['/rerank', { query: 'q', texts: ['a'], raw_scores: 'yes' }, /`raw_scores` must be a boolean/],
  ] as const) {
    const res = await post(httpUrl, path, body);
    assert.ok(res.status === 422 || res.status === 400, `${path} ${JSON.stringify(body)}: ${res.status}`);
    assert.match(res.json.error, field);
  }
});
