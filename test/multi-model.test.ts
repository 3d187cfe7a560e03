/**
 * One real process serving two models on the tiny-bert fixture, one of them on two CPU device
 * groups (the ORT path of data parallelism): routing over HTTP and gRPC, listings, metrics, errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { startCoalesce, type Coalesce } from '../src/server.js';
import { post, TINY_BERT, assertClose } from './helpers/server.js';

/** The real server on ephemeral ports with only the models given (the shared helper adds one of its own). */
const startServer = (args: string[]) => startCoalesce(loadConfig(['--port', '0', '--grpc-port', '0', '--hostname', '127.0.0.1', ...args], {}), silentLogger);
import { call, client, failure, status } from './transport/grpc/client.js';

let server: Coalesce;
before(async () => {
  server = await startServer(['--model', `tiny=${TINY_BERT}`, '--model', `pair=${TINY_BERT},device=cpu,cpu,max-concurrent=16`, '--default-model', 'tiny']);
});
after(() => server?.close());

test('both models load; the second runs on two CPU device groups from one queue', async () => {
  assert.deepEqual(server.models.names, ['tiny', 'pair']);
  const pair = server.models.get('pair');
  assert.equal(pair.backend.info.device, 'cpu,cpu');
  assert.equal(pair.backend.maxConcurrentBatches, 2);
  const texts = Array.from({ length: 24 }, (_, i) => `text number ${i}`);
  const [a, b] = await Promise.all([
    post(server.httpUrl, '/v1/embeddings', { model: 'tiny', input: texts, encoding_format: 'float' }),
    post(server.httpUrl, '/v1/embeddings', { model: 'pair', input: texts, encoding_format: 'float' }),
  ]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal(b.json.model, 'pair');
  // The same weights on every group: the same vectors, whichever group ran them.
  texts.forEach((_, i) => assertClose(b.json.data[i].embedding, a.json.data[i].embedding, 1e-5, 1e-4, `text ${i}`));
});

test('/v1/models and /info list every model with kind, dimensions, device and memory', async () => {
  const list = (await (await fetch(`${server.httpUrl}/v1/models`)).json()) as any;
  assert.deepEqual(
    list.data.map((m: any) => [m.id, m.kind, m.device, m.default]),
    [
      ['tiny', 'embedding', 'cpu', true],
      ['pair', 'embedding', 'cpu,cpu', false],
    ],
  );
  for (const m of list.data) {
    assert.equal(typeof m.dimensions, 'number');
    assert.ok(m.memory.estimated_bytes > 0, 'estimated from the weight files');
    assert.equal(m.memory.measured_by, 'rss-delta');
  }
  const info = (await (await fetch(`${server.httpUrl}/info`)).json()) as any;
  assert.equal(info.served_model_name, 'tiny', "TEI's fields describe the default model");
  assert.deepEqual(
    info.models.map((m: any) => m.name),
    ['tiny', 'pair'],
  );
  const pairInfo = (await (await fetch(`${server.httpUrl}/info`, { headers: { 'x-model': 'pair' } })).json()) as any;
  assert.equal(pairInfo.served_model_name, 'pair');
  assert.equal(pairInfo.device, 'cpu,cpu');
  assert.deepEqual(
    pairInfo.device_groups.map((d: any) => d.live),
    [true, true],
  );
});

test('TEI routes: the default model, or the one x-model or /models/<name>/ names; unknown names are 404', async () => {
  const plain = await post(server.httpUrl, '/embed', { inputs: 'hello' });
  const header = await post(server.httpUrl, '/embed', { inputs: 'hello' }, { 'x-model': 'pair' });
  const prefixed = await post(server.httpUrl, '/models/pair/embed', { inputs: 'hello' });
  for (const r of [plain, header, prefixed]) assert.equal(r.status, 200);
  assertClose(header.json[0], plain.json[0]);
  assertClose(prefixed.json[0], plain.json[0]);
  const unknown = await post(server.httpUrl, '/v1/embeddings', { model: 'bert', input: 'hello' });
  assert.equal(unknown.status, 404);
  assert.match(unknown.json.error.message, /`bert` does not exist: this server serves `tiny`, `pair`/);
  assert.equal((await post(server.httpUrl, '/embed', { inputs: 'hello' }, { 'x-model': 'bert' })).status, 404);
});

test('gRPC: coalesce.v1 selects by its model field, tei.v1 by x-model metadata', async () => {
  const coalesce = client(server.grpcUrl!, 'coalesce', 'Coalesce');
  const tei = client(server.grpcUrl!, 'tei', 'Embed');
  try {
    const info = await call(coalesce, 'ModelInfo', { model: 'pair' });
    assert.equal(info.served_model_name, 'pair');
    assert.equal(info.device, 'cpu,cpu');
    assert.deepEqual(info.served_models, ['tiny', 'pair']);
    const batch = await call(coalesce, 'EmbedBatch', { inputs: ['hello'], model: 'pair' });
    assert.equal(batch.rows, 1);
    const missing = await failure(call(coalesce, 'EmbedBatch', { inputs: ['hello'], model: 'bert' }));
    assert.equal(missing.code, status.NOT_FOUND);
    assert.match(missing.details, /`bert` does not exist/);
    const metadata = new grpc.Metadata();
    metadata.set('x-model', 'pair');
    const embedded = await call(tei, 'Embed', { inputs: 'hello' }, {}, metadata);
    assert.equal(embedded.embeddings.length, info.dimensions);
    const wrong = new grpc.Metadata();
    wrong.set('x-model', 'bert');
    assert.equal((await failure(call(tei, 'Embed', { inputs: 'hello' }, {}, wrong))).code, status.NOT_FOUND);
  } finally {
    coalesce.close();
    tei.close();
  }
});

test('metrics carry a model label, under TEI names', async () => {
  await post(server.httpUrl, '/embed', { inputs: 'count me' }, { 'x-model': 'pair' });
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  assert.match(text, /^te_request_success_total\{model="pair"\} [1-9]/m);
  assert.match(text, /^te_request_success_total\{model="tiny"\} [1-9]/m);
  assert.match(text, /^te_queue_size\{model="pair"\} 0$/m);
  assert.doesNotMatch(text, /^te_request_success_total [0-9]/m, 'no unlabelled series beside the labelled ones');
});

test('start is refused with a clear message: duplicate names, a bad per-model option, a memory budget too small', async () => {
  await assert.rejects(startServer(['--model', `x=${TINY_BERT}`, '--model', `x=${TINY_BERT}`]), /two models are named 'x'/);
  await assert.rejects(startServer(['--model', `x=${TINY_BERT},sessions=lots`, '--model', `y=${TINY_BERT}`]), /sessions: 'lots' is not an integer/);
  await assert.rejects(
    startServer(['--model', `x=${TINY_BERT}`, '--model', `y=${TINY_BERT}`, '--max-device-memory', '1KiB']),
    /would not fit --max-device-memory .* on cpu: x .* \+ y .*/,
  );
});

test('through HTTP threads the same routing holds: each call reaches the model it names', async (t) => {
  const threaded = await startServer([
    '--http-threads',
    '1',
    '--grpc-port',
    '-1',
    '--model',
    `one=${TINY_BERT}`,
    '--model',
    `two=${TINY_BERT},max-batch-tokens=2048`,
  ]);
  t.after(() => threaded.close());
  const successes = async (model: string) => {
    const metrics = await (await fetch(`${threaded.httpUrl}/metrics`)).text();
    return Number(metrics.match(new RegExp(`^te_request_success_total\\{model="${model}"\\} (\\d+)$`, 'm'))?.[1]);
  };
  // Start-up requests (warm-up, quantization calibration) count too: compare before and after.
  const before = { one: await successes('one'), two: await successes('two') };
  const header = await post(threaded.httpUrl, '/embed', { inputs: 'hello' }, { 'x-model': 'two' });
  const openai = await post(threaded.httpUrl, '/v1/embeddings', { model: 'two', input: 'hello', encoding_format: 'float' });
  const plain = await post(threaded.httpUrl, '/embed', { inputs: 'hello' });
  for (const r of [header, openai, plain]) assert.equal(r.status, 200);
  assert.equal(openai.json.model, 'two');
  assertClose(header.json[0], plain.json[0]);
  assert.equal((await successes('two')) - before.two, 2, 'the x-model call and the OpenAI call');
  assert.equal((await successes('one')) - before.one, 1, 'the plain call');
  const info = (await (await fetch(`${threaded.httpUrl}/models/two/info`)).json()) as any;
  assert.equal(info.max_batch_tokens, 2048);
  assert.equal((await post(threaded.httpUrl, '/embed', { inputs: 'hello' }, { 'x-model': 'three' })).status, 404);
});
