/**
 * The gRPC API against the real server (tiny BERT fixture) on ephemeral ports, with a real
 * @grpc/grpc-js client: tei.v1 and coalesce.v1 answer what HTTP answers for the same input.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { loadConfig } from '../../../src/config.js';
import { silentLogger } from '../../../src/log.js';
import { startCoalesce, type Coalesce } from '../../../src/server.js';
import { assertClose, post } from '../../helpers/server.js';
import { within } from '../../helpers/fake-backend.js';
import { call, callWithHeaders, client, duplex, failure, status, type Client } from './client.js';

const PAYLOAD_LIMIT = 20_000;
let server: Coalesce;
let embed: Client;
let tokenize: Client;
let batch: Client;

before(async () => {
  server = await startCoalesce(
    loadConfig(
      [
        '--model',
        'test/fixtures/tiny-bert',
        '--port',
        '0',
        '--grpc-port',
        '0',
        '--hostname',
        '127.0.0.1',
        '--payload-limit',
        String(PAYLOAD_LIMIT),
        '--auto-truncate',
        'false',
      ],
      {},
    ),
    silentLogger,
  );
  assert.ok(server.grpcUrl && server.grpcPort! > 0);
  embed = client(server.grpcUrl!, 'tei', 'Embed');
  tokenize = client(server.grpcUrl!, 'tei', 'Tokenize');
  batch = client(server.grpcUrl!, 'coalesce', 'Coalesce');
});
after(() => server.close());

/** coalesce.v1's packed matrix as rows. */
function rows(response: { embeddings: Uint8Array; rows: number; dimensions: number }): Float32Array[] {
  const aligned = new Float32Array(Uint8Array.from(response.embeddings).buffer);
  assert.equal(aligned.length, response.rows * response.dimensions);
  return Array.from({ length: response.rows }, (_, i) => aligned.subarray(i * response.dimensions, (i + 1) * response.dimensions));
}

async function httpEmbed(body: object): Promise<number[][]> {
  const r = await post(server.httpUrl, '/embed', body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

const TEXTS = ['hello world', 'The quick brown fox jumps over the lazy dog.', 'Ünïcödé and emoji 🙂 survive', 'a', 'short'];
const LONG = 'many words here '.repeat(40); // over the fixture's 64 tokens

test("tei.v1 Embed returns TEI's message with Metadata and timing headers", async () => {
  const { response, headers } = await callWithHeaders(embed, 'Embed', { inputs: 'hello world', normalize: true });
  assert.equal(response.embeddings.length, 32);
  assert.ok(Math.abs(Math.hypot(...response.embeddings) - 1) < 1e-5);
  const m = response.metadata;
  assert.equal(m.compute_chars, 11);
  assert.equal(m.compute_tokens, 4); // [CLS] hello world [SEP]
  assert.ok(Number(m.total_time_ns) > 0 && Number(m.inference_time_ns) > 0);
  assert.ok(Number(m.total_time_ns) >= Number(m.inference_time_ns));
  assert.equal(headers.get('x-compute-tokens')[0], '4');
  assert.equal(headers.get('x-compute-type')[0], 'cpu');
});

test('tei.v1 Embed gives the same vectors as POST /embed for the same input', async () => {
  for (const normalize of [true, false]) {
    const http = await httpEmbed({ inputs: TEXTS, normalize });
    for (const [i, text] of TEXTS.entries()) {
      const r = await call(embed, 'Embed', { inputs: text, normalize });
      assertClose(r.embeddings, http[i], 1e-5, 1e-4, `${text} (normalize ${normalize})`);
    }
  }
  for (const [direction, name] of [
    [0, 'Right'],
    [1, 'Left'],
  ] as const) {
    const [http] = await httpEmbed({ inputs: LONG, truncate: true, truncation_direction: name });
    const r = await call(embed, 'Embed', { inputs: LONG, truncate: true, normalize: true, truncation_direction: direction });
    assertClose(r.embeddings, http, 1e-5, 1e-4, `truncated ${name}`);
  }
});

test('coalesce.v1 EmbedBatch packs the same vectors as POST /embed, little-endian float32', async () => {
  const http = await httpEmbed({ inputs: TEXTS });
  const r = await call(batch, 'EmbedBatch', { inputs: TEXTS });
  assert.equal(r.rows, TEXTS.length);
  assert.equal(r.dimensions, 32);
  assert.equal(r.embeddings.length, TEXTS.length * 32 * 4);
  const view = new DataView(r.embeddings.buffer, r.embeddings.byteOffset, r.embeddings.byteLength);
  assert.ok(Math.abs(view.getFloat32(4, true) - http[0][1]) < 1e-5, 'little-endian on the wire');
  rows(r).forEach((row, i) => assertClose(row, http[i], 1e-5, 1e-4, TEXTS[i]));
  // Unicode characters, as TEI counts them: the emoji is one, not two UTF-16 units.
  assert.equal(
    r.metadata.compute_chars,
    TEXTS.reduce((n, t) => n + [...t].length, 0),
  );

  const cut = rows(await call(batch, 'EmbedBatch', { inputs: ['hello world'], dimensions: 8 }));
  const [httpCut] = await httpEmbed({ inputs: 'hello world', dimensions: 8 });
  assertClose(cut[0], httpCut);
  const raw = rows(await call(batch, 'EmbedBatch', { inputs: ['hello world'], normalize: false }));
  const [httpRaw] = await httpEmbed({ inputs: 'hello world', normalize: false });
  assertClose(raw[0], httpRaw);
});

test('EmbedStream answers 1,000 messages in request order', async () => {
  const texts = Array.from({ length: 1000 }, (_, i) => `sentence number ${i} ${'about things '.repeat(i % 7)}`);
  const expected: number[][] = [];
  for (let i = 0; i < texts.length; i += 32) expected.push(...(await httpEmbed({ inputs: texts.slice(i, i + 32) })));
  const out = await within(
    duplex(
      embed,
      'EmbedStream',
      texts.map((inputs) => ({ inputs, normalize: true })),
    ),
    60_000,
    'the stream',
  );
  assert.equal(out.length, texts.length);
  out.forEach((r, i) => assertClose(r.embeddings, expected[i], 1e-5, 1e-4, `message ${i}`));
});

test('EmbedBatchStream answers each batch in order', async () => {
  const batches = [['a', 'b'], ['hello world'], TEXTS];
  const out = await duplex(
    batch,
    'EmbedBatchStream',
    batches.map((inputs) => ({ inputs })),
  );
  assert.deepEqual(
    out.map((r) => r.rows),
    [2, 1, TEXTS.length],
  );
  const http = await httpEmbed({ inputs: TEXTS });
  rows(out[2]).forEach((row, i) => assertClose(row, http[i]));
});

test('Tokenize and TokenizeStream match POST /tokenize; Decode matches POST /decode', async () => {
  for (const add_special_tokens of [true, false]) {
    const http = (await post(server.httpUrl, '/tokenize', { inputs: TEXTS, add_special_tokens })).json as any[][];
    for (const [i, text] of TEXTS.entries()) {
      const r = await call(tokenize, 'Tokenize', { inputs: text, add_special_tokens });
      // proto3 leaves unset optionals out; HTTP spells them null.
      const asHttp = r.tokens.map((t: any) => ({ id: t.id, text: t.text, special: t.special, start: t.start ?? null, stop: t.stop ?? null }));
      assert.deepEqual(asHttp, http[i], `${text} (add_special_tokens ${add_special_tokens})`);
    }
    const streamed = await duplex(
      tokenize,
      'TokenizeStream',
      TEXTS.map((inputs) => ({ inputs, add_special_tokens })),
    );
    assert.deepEqual(
      streamed.map((r) => r.tokens.map((t: any) => t.id)),
      http.map((tokens) => tokens.map((t) => t.id)),
    );
  }
  const ids = [101, 7592, 2088, 102];
  for (const skip_special_tokens of [true, false]) {
    const http = (await post(server.httpUrl, '/decode', { ids, skip_special_tokens })).json;
    const r = await call(tokenize, 'Decode', { ids, skip_special_tokens });
    assert.equal(r.text, http[0]);
  }
  assert.deepEqual(
    (await duplex(tokenize, 'DecodeStream', [{ ids, skip_special_tokens: true }])).map((r) => r.text),
    ['hello world'],
  );
});

test('Info and ModelInfo describe the model and the limits', async () => {
  const info = await call(client(server.grpcUrl!, 'tei', 'Info'), 'Info', {});
  assert.equal(info.model_id, 'test/fixtures/tiny-bert');
  assert.equal(info.model_type, 0);
  assert.equal(info.max_input_length, 64);
  assert.equal(info.max_client_batch_size, 32);
  assert.equal(info.max_batch_requests, 256);
  const model = await call(batch, 'ModelInfo', {});
  assert.equal(model.dimensions, 32);
  assert.equal(model.pooling, 'mean');
  assert.deepEqual(model.modalities, ['text']);
});

test('malformed requests get INVALID_ARGUMENT naming the problem', async () => {
  const invalid = async (p: Promise<unknown>, mentions: RegExp, errorType = 'Validation') => {
    const e = await failure(p);
    assert.equal(e.code, status.INVALID_ARGUMENT, e.details);
    assert.match(e.details, mentions);
    assert.equal(e.metadata.get('x-error-type')[0], errorType);
  };
  await invalid(call(embed, 'Embed', { inputs: '' }), /cannot be empty/, 'Empty');
  await invalid(call(batch, 'EmbedBatch', { inputs: [] }), /cannot be empty/, 'Empty');
  await invalid(call(batch, 'EmbedBatch', { inputs: Array(33).fill('x') }), /max-client-batch-size/);
  await invalid(call(embed, 'Embed', { inputs: LONG }), /at most 64 tokens/);
  await invalid(call(batch, 'EmbedBatch', { inputs: ['ok', LONG], truncate: false }), /inputs\[1\].*at most 64 tokens/);
  await invalid(call(batch, 'EmbedBatch', { inputs: ['x'], dimensions: 33 }), /dimensions/);
  await invalid(call(embed, 'Embed', { inputs: 'x', truncation_direction: 7 }), /truncation_direction/);
  await invalid(call(embed, 'Embed', { inputs: 'x', prompt_name: 'nope' }), /prompt_name.*known prompts: "document", "query"/);
  await invalid(call(tokenize, 'Decode', { ids: [] }), /cannot be empty/, 'Empty');

  // Bytes that are not an EmbedRequest at all.
  const raw = new grpc.Client(server.grpcUrl!, grpc.credentials.createInsecure());
  const garbage = new Promise((resolve, reject) =>
    raw.makeUnaryRequest(
      '/tei.v1.Embed/Embed',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0xff, 0xff, 0xff]),
      (e, r) => (e ? reject(e) : resolve(r)),
    ),
  );
  await invalid(garbage, /not a valid EmbedRequest/, 'BadRequest');
  raw.close();

  // Still serving.
  assert.equal((await call(embed, 'Embed', { inputs: 'still here' })).embeddings.length, 32);
});

test('a message over --payload-limit gets RESOURCE_EXHAUSTED, and the server keeps serving', async () => {
  const e = await failure(call(embed, 'Embed', { inputs: 'x'.repeat(PAYLOAD_LIMIT + 100) }));
  assert.equal(e.code, status.RESOURCE_EXHAUSTED);
  const s = await failure(duplex(embed, 'EmbedStream', [{ inputs: 'fine' }, { inputs: 'y'.repeat(PAYLOAD_LIMIT * 2) }]));
  assert.equal(s.code, status.RESOURCE_EXHAUSTED);
  assert.equal((await call(embed, 'Embed', { inputs: 'x'.repeat(PAYLOAD_LIMIT / 4), truncate: true })).embeddings.length, 32);
});

test('a call to a method no service has is UNIMPLEMENTED', async () => {
  const raw = new grpc.Client(server.grpcUrl!, grpc.credentials.createInsecure());
  const e = await failure(
    new Promise((resolve, reject) =>
      raw.makeUnaryRequest(
        '/tei.v1.Rerank/NoSuchMethod',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    ),
  );
  assert.equal(e.code, status.UNIMPLEMENTED);
  raw.close();
});

test('grpc.health.v1: Check per service, Watch follows readiness', async () => {
  const health = client(server.grpcUrl!, 'health', 'Health');
  for (const service of ['', 'tei.v1.Embed', 'coalesce.v1.Coalesce']) assert.equal((await call(health, 'Check', { service })).status, 1, service);
  assert.equal((await failure(call(health, 'Check', { service: 'no.such.Service' }))).code, status.NOT_FOUND);

  const watch = (health.Watch as Function).call(health, { service: '' }) as grpc.ClientReadableStream<{ status: number }>;
  const seen: number[] = [];
  const next = (n: number) =>
    within(
      new Promise<void>((resolve) => {
        const check = () => seen.length >= n && resolve();
        watch.on('data', check);
        check();
      }),
      3000,
      `health update ${n}`,
    );
  watch.on('data', (m) => seen.push(m.status));
  watch.on('error', () => {});
  await next(1);
  server.embedder.markReady(false);
  await next(2);
  server.embedder.markReady(true);
  await next(3);
  assert.deepEqual(seen, [1, 2, 1]);
  watch.cancel();
});

test('reflection lists the services and resolves symbols to descriptors a client can rebuild', async () => {
  for (const version of ['reflectionV1', 'reflectionV1alpha'] as const) {
    const reflection = client(server.grpcUrl!, version, 'ServerReflection');
    const [list, bySymbol, byMethod, byFile, unknown] = await duplex(reflection, 'ServerReflectionInfo', [
      { list_services: '' },
      { file_containing_symbol: 'tei.v1.EmbedRequest' },
      { file_containing_symbol: 'coalesce.v1.Coalesce.EmbedBatch' },
      { file_by_filename: 'grpc/health/v1/health.proto' },
      { file_containing_symbol: 'tei.v1.NoSuchThing' },
    ]);
    const names = list.list_services_response.service.map((s: { name: string }) => s.name);
    for (const s of [
      'tei.v1.Info',
      'tei.v1.Embed',
      'tei.v1.Tokenize',
      'coalesce.v1.Coalesce',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]) {
      assert.ok(names.includes(s), `${version} lists ${s}`);
    }
    const file = descriptor.FileDescriptorProto.decode(bySymbol.file_descriptor_response.file_descriptor_proto[0]) as any;
    assert.equal(file.name, 'tei.proto');
    assert.equal(file.package, 'tei.v1');
    const stream = file.service.find((s: any) => s.name === 'Embed').method.find((m: any) => m.name === 'EmbedStream');
    assert.ok(stream.clientStreaming && stream.serverStreaming);
    assert.equal(stream.inputType, '.tei.v1.EmbedRequest');

    // A client that knows nothing but the descriptor can talk to the server with it.
    const rebuilt = (protobuf.Root as any).fromDescriptor({ file: [file] }) as protobuf.Root;
    const EmbedRequest = rebuilt.lookupType('tei.v1.EmbedRequest');
    const raw = new grpc.Client(server.grpcUrl!, grpc.credentials.createInsecure());
    const reply = await new Promise<Buffer>((resolve, reject) =>
      raw.makeUnaryRequest(
        '/tei.v1.Embed/Embed',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(EmbedRequest.encode({ inputs: 'hello world', normalize: true }).finish()),
        (e, r) => (e ? reject(e) : resolve(r!)),
      ),
    );
    raw.close();
    assert.equal((rebuilt.lookupType('tei.v1.EmbedResponse').decode(reply) as any).embeddings.length, 32);

    assert.equal((descriptor.FileDescriptorProto.decode(byMethod.file_descriptor_response.file_descriptor_proto[0]) as any).name, 'coalesce.proto');
    assert.equal((descriptor.FileDescriptorProto.decode(byFile.file_descriptor_response.file_descriptor_proto[0]) as any).package, 'grpc.health.v1');
    assert.equal(unknown.error_response.error_code, status.NOT_FOUND);
  }
});

test("grpc.health.v1 List (the library's health.proto) is served, and reflection describes its map so a client can rebuild it", async () => {
  const health = client(server.grpcUrl!, 'health', 'Health');
  const listed = await call(health, 'List', {});
  for (const service of ['', 'tei.v1.Embed', 'coalesce.v1.Coalesce', 'grpc.health.v1.Health']) assert.equal(listed.statuses[service]?.status, 1, service);

  const reflection = client(server.grpcUrl!, 'reflectionV1', 'ServerReflection');
  const [byFile] = await duplex(reflection, 'ServerReflectionInfo', [{ file_containing_symbol: 'grpc.health.v1.Health.List' }]);
  const file = descriptor.FileDescriptorProto.decode(byFile.file_descriptor_response.file_descriptor_proto[0]) as any;
  assert.equal(file.name, 'grpc/health/v1/health.proto');
  const listResponse = file.messageType.find((m: any) => m.name === 'HealthListResponse');
  assert.equal(listResponse.field[0].typeName, '.grpc.health.v1.HealthListResponse.StatusesEntry');
  assert.equal(listResponse.nestedType[0].name, 'StatusesEntry');
  assert.equal(listResponse.nestedType[0].field.find((f: any) => f.name === 'value').typeName, '.grpc.health.v1.HealthCheckResponse');
  const rebuilt = (protobuf.Root as any).fromDescriptor({ file: [file] }) as protobuf.Root;
  const raw = new grpc.Client(server.grpcUrl!, grpc.credentials.createInsecure());
  const reply = await new Promise<Buffer>((resolve, reject) =>
    raw.makeUnaryRequest(
      '/grpc.health.v1.Health/List',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      (e, r) => (e ? reject(e) : resolve(r!)),
    ),
  );
  raw.close();
  // protobufjs rebuilds a map from a descriptor as its repeated entries (as the wire has them).
  const decoded = rebuilt.lookupType('grpc.health.v1.HealthListResponse').decode(reply) as any;
  assert.equal(decoded.statuses.find((e: any) => e.key === 'tei.v1.Embed')?.value.status, 1);
});

test('closing the server ends health watches with NOT_SERVING, then refuses connections', async () => {
  const health = client(server.grpcUrl!, 'health', 'Health');
  const watch = (health.Watch as Function).call(health, { service: '' }) as grpc.ClientReadableStream<{ status: number }>;
  const seen: number[] = [];
  const ended = new Promise<void>((resolve) => {
    watch.on('data', (m) => seen.push(m.status));
    watch.on('end', resolve);
    watch.on('error', () => resolve());
  });
  await within(new Promise<void>((r) => watch.once('data', () => r())), 3000, 'the first health update');
  await within(server.close(), 10_000, 'close');
  await within(ended, 3000, 'the watch to end');
  assert.deepEqual(seen, [1, 2]);
  const e = await failure(call(embed, 'Embed', { inputs: 'too late' }, { deadline: Date.now() + 2000 }));
  assert.ok([status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(e.code), `code ${e.code}`);
});
