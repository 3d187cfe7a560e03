/**
 * Generated HTTP requests against a real server: malformed JSON, wrong types in every field,
 * huge / negative / non-finite numbers, deep nesting, invalid UTF-8, lone surrogates, null bytes,
 * huge strings, wrong content types, truncated bodies. Every answer must be 2xx or 4xx, a 4xx
 * with the route's JSON error body, within a time limit; the server must be healthy after.
 * Bounded in time (FUZZ_MS, default 25 s). Failures found are replayed from regressions.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import fc from 'fast-check';
import type { Coalesce } from '../../src/server.js';
import { startServer } from '../helpers/server.js';
import { regressions } from './regressions.js';

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 25_000);
const PAYLOAD_LIMIT = 200_000;
let server: Coalesce;
before(async () => {
  server = await startServer(['--payload-limit', String(PAYLOAD_LIMIT), '--max-client-batch-size', '8']);
});
after(() => server.close());

const PATHS = ['/embed', '/embed_all', '/embed_sparse', '/v1/embeddings', '/v2/embed', '/tokenize', '/decode', '/predict', '/rerank', '/', '/no-such-route'];
const FIELDS = [
  'inputs',
  'input',
  'ids',
  'normalize',
  'truncate',
  'truncation_direction',
  'dimensions',
  'prompt_name',
  'encoding_format',
  'ranges',
  'embedding_types',
  'output_dimension',
  'input_type',
  'model',
  'add_special_tokens',
  'skip_special_tokens',
  'texts',
  'query',
];

const weirdString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }), // lone surrogates included
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.constantFrom('', '\u0000', '\ud800', '\udfff', 'Left', 'right', 'float', 'base64', '💥'.repeat(300)),
  fc.integer({ min: 1, max: 60_000 }).map((n) => 'a '.repeat(n)),
);
/** Number literals as text, so NaN, Infinity and huge exponents reach the parser as written. */
const numberText = fc.oneof(
  fc.double().map((d) => (Number.isFinite(d) ? String(d) : String(d))),
  fc.constantFrom('NaN', 'Infinity', '-1', '0', '1e400', '-0', '4294967296', '1.5', '99999999999999999999'),
  fc.integer().map(String),
);
const deep = fc.integer({ min: 1, max: 50_000 }).map((n) => '['.repeat(n) + ']'.repeat(n));
const valueText: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    weirdString.map((s) => JSON.stringify(s)),
    numberText,
    fc.constantFrom('true', 'false', 'null', '{}', '[]'),
    deep,
    fc.array(tie('v'), { maxLength: 6 }).map((a) => `[${a.join(',')}]`),
    fc.array(fc.tuple(fc.constantFrom(...FIELDS), tie('v')), { maxLength: 4 }).map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).v;
const objectText = fc
  .array(fc.tuple(fc.constantFrom(...FIELDS), valueText), { maxLength: 6 })
  .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);

interface Generated {
  path: string;
  contentType: string | null;
  body: Uint8Array;
}

const body = fc.oneof(
  objectText.map((t) => Buffer.from(t)),
  objectText.chain((t) => fc.nat(t.length).map((cut) => Buffer.from(t.slice(0, cut)))), // truncated
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)), // arbitrary bytes, invalid UTF-8 included
  objectText.map((t) => Buffer.concat([Buffer.from(t.slice(0, -1)), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('}')])),
  fc.constant(Buffer.alloc(PAYLOAD_LIMIT + 1, 0x20)),
);
const generated: fc.Arbitrary<Generated> = fc.record({
  path: fc.constantFrom(...PATHS),
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data',
    null,
  ),
  body,
});

function send(g: Generated): Promise<{ status: number; type: string; text: string }> {
  const url = new URL(server.httpUrl + g.path);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-length': g.body.length };
    if (g.contentType) headers['content-type'] = g.contentType;
    const req = request(url, { method: 'POST', headers, signal: AbortSignal.timeout(30_000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(g.body);
  });
}

const property = fc.asyncProperty(generated, async (g) => {
  const r = await send(g);
  assert.ok((r.status >= 200 && r.status < 300) || (r.status >= 400 && r.status < 500), `status ${r.status}: ${r.text.slice(0, 300)}`);
  if (r.status >= 400) {
    assert.match(r.type, /application\/json/, `${r.status} ${r.text.slice(0, 200)}`);
    const json = JSON.parse(r.text);
    if (g.path.startsWith('/v1/') && r.status !== 404) assert.equal(typeof json.error?.message, 'string', r.text.slice(0, 200));
    // Cohere's error shape: a message.
    else if (g.path.startsWith('/v2/')) assert.equal(typeof json.message, 'string', r.text.slice(0, 200));
    else assert.ok(typeof json.error === 'string' || typeof json.error?.message === 'string', r.text.slice(0, 200));
  }
});

test('generated HTTP requests get 2xx or a 4xx JSON error, never a 5xx or a hang', { timeout: FUZZ_MS + 120_000 }, async (t) => {
  for (const replay of regressions.http) await fc.assert(property, { seed: replay.seed, path: replay.path, endOnFailure: true });
  // Rounds of whole runs until the time is up (fast-check's own time limit reports the run it cuts short as failed).
  const end = Date.now() + FUZZ_MS;
  let runs = 0;
  while (Date.now() < end) {
    const details = await fc.check(property, { numRuns: 100 });
    runs += details.numRuns;
    if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'failed');
  }
  t.diagnostic(`${runs} requests`);
  assert.equal((await fetch(server.httpUrl + '/health')).status, 200);
});
