/**
 * Output encodings over HTTP against the real server (tiny BERT fixture): /embed (JSON and packed
 * bytes) and /v1/embeddings through the official openai SDK. The expected codes are worked out
 * here from the server's float vectors: sign bits directly, int8/uint8 from ranges computed here
 * (the calibration texts embedded raw through /embed), not read back from the server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Coalesce } from '../../../src/server.js';
import { CALIBRATION_TEXTS } from '../../../src/core/calibration-texts.js';
import { post, startServer } from '../../helpers/server.js';

let server: Coalesce;
let client: OpenAI;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coalesce-encodings-'));
  server = await startServer(['--grpc-port', '-1']);
  client = new OpenAI({ baseURL: `${server.httpUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const TEXTS = ['hello world', 'The quick brown fox jumps over the lazy dog.', 'Crème brûlée 🙂'];

const floats = async (base: string, body: object = {}) => (await post(base, '/embed', { inputs: TEXTS, ...body })).json as number[][];

/** Sign bits, 8 per byte, first dimension in the high bit, written out longhand. */
function signBytes(v: number[]): number[] {
  const out: number[] = [];
  for (let at = 0; at < v.length; at += 8) {
    let byte = 0;
    for (let bit = 0; bit < 8; bit++) byte = byte * 2 + (at + bit < v.length && v[at + bit] > 0 ? 1 : 0);
    out.push(byte);
  }
  return out;
}

function l2(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** Codes within one of those worked out in float64 here (the server computes in float32), and most equal. */
function assertCodesClose(actual: number[][], expected: number[][], what: string): void {
  let equal = 0;
  let total = 0;
  actual.forEach((row, i) =>
    row.forEach((x, d) => {
      total++;
      if (x === expected[i][d]) equal++;
      assert.ok(Math.abs(x - expected[i][d]) <= 1, `${what} [${i}][${d}]: ${x} vs ${expected[i][d]}`);
    }),
  );
  assert.ok(equal / total > 0.9, `${what}: only ${equal} of ${total} codes equal`);
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

test('ubinary and binary on /embed: the sign bits of the float vectors, as JSON integers', async () => {
  const expected = (await floats(server.httpUrl)).map(signBytes);
  const ubinary = await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: 'ubinary' });
  assert.equal(ubinary.status, 200);
  assert.deepEqual(ubinary.json, expected);
  const binary = await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: 'binary' });
  assert.deepEqual(
    binary.json,
    expected.map((row) => row.map((b) => b - 128)),
  );
});

test('int8 and uint8 use ranges calibrated at start from the built-in texts, shaped as the request (dimensions cut first)', async () => {
  for (const dimensions of [undefined, 8]) {
    // The calibration, redone here: the built-in texts embedded raw, cut, normalized; per-dimension min and max.
    const raw: number[][] = [];
    for (let at = 0; at < CALIBRATION_TEXTS.length; at += 32) {
      raw.push(
        ...((await post(server.httpUrl, '/embed', { inputs: CALIBRATION_TEXTS.slice(at, at + 32), normalize: false, truncate: true })).json as number[][]),
      );
    }
    const shaped = raw.map((v) => l2(v.slice(0, dimensions ?? v.length)));
    const min = shaped[0].map((_, d) => Math.min(...shaped.map((v) => v[d])));
    const max = shaped[0].map((_, d) => Math.max(...shaped.map((v) => v[d])));
    const vectors = await floats(server.httpUrl, { dimensions });
    const scaled = vectors.map((v) => v.map((x, d) => ((x - min[d]) / (max[d] - min[d])) * 255));
    const uint8 = await post(server.httpUrl, '/embed', { inputs: TEXTS, dimensions, encoding_format: 'uint8' });
    assert.equal(uint8.status, 200);
    assertCodesClose(
      uint8.json,
      scaled.map((v) => v.map((s) => clamp(Math.trunc(s), 0, 255))),
      `uint8 (dimensions ${dimensions})`,
    );
    const int8 = await post(server.httpUrl, '/embed', { inputs: TEXTS, dimensions, encoding_format: 'int8' });
    assertCodesClose(
      int8.json,
      scaled.map((v) => v.map((s) => clamp(Math.trunc(s - 128), -128, 127))),
      `int8 (dimensions ${dimensions})`,
    );
  }
});

test("a request's own ranges replace the calibration; as wide as the model they are cut to `dimensions`", async () => {
  const width = server.embedder.info.dimensions;
  const ranges = { min: Array.from({ length: width }, () => -0.5), max: Array.from({ length: width }, () => 0.5) };
  const vectors = await floats(server.httpUrl, { dimensions: 4 });
  const r = await post(server.httpUrl, '/embed', { inputs: TEXTS, dimensions: 4, encoding_format: 'uint8', ranges });
  assert.equal(r.status, 200);
  assertCodesClose(
    r.json,
    vectors.map((v) => v.map((x) => clamp(Math.trunc((x + 0.5) * 255), 0, 255))),
    'uint8 with request ranges',
  );
});

test('Accept: application/octet-stream with an encoding: the rows back to back, with their encoding and row size in headers', async () => {
  const expected = (await floats(server.httpUrl, { dimensions: 12 })).map(signBytes);
  const res = await fetch(`${server.httpUrl}/embed`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/octet-stream' },
    body: JSON.stringify({ inputs: TEXTS, dimensions: 12, encoding_format: 'ubinary' }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  assert.equal(res.headers.get('x-embedding-encoding'), 'ubinary');
  assert.equal(res.headers.get('x-embedding-dimensions'), '12');
  assert.equal(res.headers.get('x-embedding-row-bytes'), '2');
  assert.equal(res.headers.get('x-embedding-count'), '3');
  assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], expected.flat());

  const int8 = await fetch(`${server.httpUrl}/embed`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/octet-stream' },
    body: JSON.stringify({ inputs: TEXTS, encoding_format: 'int8' }),
  });
  const json = (await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: 'int8' })).json as number[][];
  assert.equal(int8.headers.get('x-embedding-row-bytes'), String(server.embedder.info.dimensions));
  assert.deepEqual([...new Int8Array(await int8.arrayBuffer())], json.flat());
});

test('the openai SDK: encoding_format int8, uint8, binary and ubinary give integer lists; base64 still decodes to the floats', async () => {
  const float = await client.embeddings.create({ model: 'any', input: TEXTS, encoding_format: 'float' });
  const signs = float.data.map((d) => signBytes(d.embedding));
  const ubinary = await client.embeddings.create({ model: 'any', input: TEXTS, encoding_format: 'ubinary' as 'float' });
  assert.deepEqual(
    ubinary.data.map((d) => d.embedding),
    signs,
  );
  const binary = await client.embeddings.create({ model: 'any', input: TEXTS, encoding_format: 'binary' as 'float' });
  assert.deepEqual(
    binary.data.map((d) => d.embedding),
    signs.map((row) => row.map((b) => b - 128)),
  );
  const tei = (await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: 'int8' })).json;
  const int8 = await client.embeddings.create({ model: 'any', input: TEXTS, encoding_format: 'int8' as 'float' });
  assert.deepEqual(
    int8.data.map((d) => d.embedding),
    tei,
  );
  const uint8 = await client.embeddings.create({ model: 'any', input: TEXTS, encoding_format: 'uint8' as 'float' });
  assert.ok(uint8.data.every((d) => d.embedding.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)));
  const b64 = await client.embeddings.create({ model: 'any', input: TEXTS });
  assert.deepEqual(
    b64.data.map((d) => d.embedding.map(Math.fround)),
    float.data.map((d) => d.embedding.map(Math.fround)),
  );
});

test('bad encodings and ranges: 400 in OpenAI shape on /v1, 422 in TEI shape on /embed, naming the field', async () => {
  const badFormat = await post(server.httpUrl, '/v1/embeddings', { input: 'x', encoding_format: 'int4' });
  assert.equal(badFormat.status, 400);
  assert.equal(badFormat.json.error.param, 'encoding_format');
  assert.match(badFormat.json.error.message, /`encoding_format` must be one of "float", "base64", "int8", "uint8", "binary", "ubinary"/);
  const badRanges = await post(server.httpUrl, '/v1/embeddings', { input: 'x', encoding_format: 'int8', ranges: { min: [0], max: [1] } });
  assert.equal(badRanges.status, 400);
  assert.equal(badRanges.json.error.param, 'ranges');
  const teiFormat = await post(server.httpUrl, '/embed', { inputs: 'x', encoding_format: 'float16' });
  assert.equal(teiFormat.status, 422);
  assert.equal(teiFormat.json.error_type, 'Validation');
  assert.match(teiFormat.json.error, /`encoding_format`/);
  const teiRanges = await post(server.httpUrl, '/embed', { inputs: 'x', encoding_format: 'uint8', ranges: { min: 'a', max: [] } });
  assert.equal(teiRanges.status, 422);
  assert.match(teiRanges.json.error, /`ranges.min`/);
  const width = server.embedder.info.dimensions;
  const inverted = await post(server.httpUrl, '/embed', {
    inputs: 'x',
    encoding_format: 'uint8',
    ranges: { min: Array(width).fill(1), max: Array(width).fill(0) },
  });
  assert.equal(inverted.status, 422);
  assert.match(inverted.json.error, /`ranges` has min 1 above max 0 at index 0/);
});

test('/info reports the calibration', async () => {
  const info = (await (await fetch(`${server.httpUrl}/info`)).json()) as any;
  assert.equal(info.quantization.source, 'calibration');
  assert.equal(info.quantization.texts, CALIBRATION_TEXTS.length);
  assert.equal(info.quantization.dimensions, server.embedder.info.dimensions);
});

test('--quantization-ranges serves ranges from a file; HTTP threads quantize as the main thread does', async () => {
  const width = server.embedder.info.dimensions;
  const file = join(dir, 'ranges.json');
  const ranges = { min: Array.from({ length: width }, (_, d) => -0.3 - d / 1000), max: Array.from({ length: width }, (_, d) => 0.3 + d / 1000) };
  writeFileSync(file, JSON.stringify(ranges));
  const threaded = await startServer(['--grpc-port', '-1', '--quantization-ranges', file, '--http-threads', '1']);
  try {
    const info = (await (await fetch(`${threaded.httpUrl}/info`)).json()) as any;
    assert.deepEqual(info.quantization.source, 'file');
    const own = await post(threaded.httpUrl, '/embed', { inputs: TEXTS, encoding_format: 'int8' });
    const given = await post(server.httpUrl, '/embed', { inputs: TEXTS, encoding_format: 'int8', ranges });
    assert.equal(own.status, 200);
    assert.deepEqual(own.json, given.json);
  } finally {
    await threaded.close();
  }
  writeFileSync(file, JSON.stringify({ min: [0], max: [1] }));
  await assert.rejects(startServer(['--grpc-port', '-1', '--quantization-ranges', file]), /--quantization-ranges .*ranges\.json: must have \d+ values/);
});

test('--quantization-calibration false: int8 needs the request to bring ranges; binary needs none', async () => {
  const bare = await startServer(['--grpc-port', '-1', '--quantization-calibration', 'false']);
  try {
    const info = (await (await fetch(`${bare.httpUrl}/info`)).json()) as any;
    assert.equal(info.quantization, null);
    const refused = await post(bare.httpUrl, '/v1/embeddings', { input: 'x', encoding_format: 'int8' });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.error.param, 'ranges');
    assert.match(refused.json.error.message, /this server has none/);
    assert.equal((await post(bare.httpUrl, '/v1/embeddings', { input: 'x', encoding_format: 'binary' })).status, 200);
  } finally {
    await bare.close();
  }
});
