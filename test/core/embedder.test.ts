import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../src/core/batcher.js';
import { Embedder, MAX_CHARS_PER_TOKEN } from '../../src/core/embedder.js';
import type { EncodedText, TextEncoder } from '../../src/core/types.js';
import { isCoalesceError } from '../../src/errors.js';
import { FakeBackend, within } from '../helpers/fake-backend.js';

/** One token per character; `slowMs` holds tokenization to catch requests between admission and the queue. */
function encoder(slowMs = 0): TextEncoder {
  return {
    maxLength: 16,
    encode: async (texts, { truncate }) => {
      if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
      return texts.map((t): EncodedText => ({ ids: Uint32Array.from(truncate ? t.slice(0, 16) : t, (c) => c.charCodeAt(0)) }));
    },
    encodePairs: async () => [],
    tokenize: async () => [],
    decode: async () => [],
    close: async () => {},
  };
}

function embedder(slowMs = 0) {
  const backend = new FakeBackend();
  const e = new Embedder(
    backend.info,
    encoder(slowMs),
    new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 64 }),
    { maxClientBatchSize: 4, autoTruncate: false },
    8,
  );
  e.markReady(true);
  return { e, backend };
}

test('drain answers requests admitted but still tokenizing, and refuses new ones', async () => {
  const { e } = embedder(30);
  const admitted = e.embed({ inputs: ['abc'], normalize: false });
  const drained = e.drain();
  await assert.rejects(e.embed({ inputs: ['x'], normalize: false }), (err) => isCoalesceError(err) && err.kind === 'unhealthy');
  const result = await within(admitted);
  assert.equal(result.vectors[0][0], 3);
  await within(drained);
});

test('validation happens before anything is queued, and releases the permit', async () => {
  const { e, backend } = embedder();
  await assert.rejects(e.embed({ inputs: [], normalize: true }), (err) => isCoalesceError(err) && err.kind === 'empty');
  await assert.rejects(e.embed({ inputs: ['a', 'b', 'c', 'd', 'e'], normalize: true }), (err) => isCoalesceError(err) && err.kind === 'over_limit');
  await assert.rejects(e.embed({ inputs: ['x'.repeat(17)], normalize: true }), (err) => isCoalesceError(err) && /at most 16 tokens/.test(err.message));
  await assert.rejects(e.embed({ inputs: ['x'], normalize: true, dimensions: 0 }), (err) => isCoalesceError(err) && err.param === 'dimensions');
  assert.equal(backend.batches.length, 0);
  assert.equal(e.admission.inUse, 0);
  const cut = await e.embed({ inputs: ['x'.repeat(17)], normalize: false, truncate: true });
  assert.equal(cut.vectors[0][0], 16);
  assert.equal(cut.promptTokens, 16);
});

test("a full-width normalized request takes the backend's normalized vector as it is; raw and truncated ones are finalized from the raw vector", async () => {
  const { e, backend } = embedder();
  backend.markedNormalized = true;
  const normalized = await e.embed({ inputs: ['abc'], normalize: true });
  assert.deepEqual(Array.from(normalized.vectors[0]), [-1, -1, -1, -1]);
  const raw = await e.embed({ inputs: ['abc'], normalize: false });
  assert.deepEqual(Array.from(raw.vectors[0]), [3, 97, 1, 0]);
  const truncated = await e.embed({ inputs: ['abc'], normalize: true, dimensions: 2 });
  const norm = Math.hypot(3, 97);
  assert.equal(truncated.vectors[0].length, 2);
  [3 / norm, 97 / norm].forEach((x, i) => assert.ok(Math.abs(truncated.vectors[0][i] - x) < 1e-6));
});

test('inputs encoded on arrival skip the encoder, still count as tokenization, and are still held to the max length', async () => {
  const { e, backend } = embedder();
  let encoderCalls = 0;
  (e as unknown as { encoder: TextEncoder }).encoder = { ...encoder(), encode: async (texts, o) => (encoderCalls++, encoder().encode(texts, o)) };
  const ids = Uint32Array.from([1, 2, 3]);
  const r = await within(e.embed({ inputs: ['xyz'], normalize: false, encoded: { texts: [{ ids }], ms: 5 } }));
  assert.equal(encoderCalls, 0);
  assert.deepEqual(backend.batches, [[[1, 2, 3]]], 'the model got the ids that arrived, not the text encoded again');
  assert.ok(r.timings.tokenizationMs >= 5 && r.timings.totalMs >= 5);
  const tooLong = await e.embed({ inputs: ['x'], normalize: false, encoded: { texts: [{ ids: new Uint32Array(17) }], ms: 0 } }).catch((x) => x);
  assert.ok(isCoalesceError(tooLong) && tooLong.kind === 'over_limit', String(tooLong));
  // Encodings that do not match the inputs one for one are ignored.
  await within(e.embed({ inputs: ['ab', 'c'], normalize: false, encoded: { texts: [{ ids }], ms: 0 } }));
  assert.equal(encoderCalls, 1);
});

test('an input over the character bound is refused before the tokenizer sees it, or cut there when truncating', async () => {
  const seen: number[] = [];
  const base = encoder();
  const counting: TextEncoder = { ...base, encode: (texts, options) => (seen.push(...texts.map((t) => t.length)), base.encode(texts, options)) };
  const backend = new FakeBackend();
  const e = new Embedder(
    backend.info,
    counting,
    new Batcher(backend, { maxBatchTokens: 1000, maxBatchRequests: 64 }),
    { maxClientBatchSize: 4, autoTruncate: false },
    8,
  );
  e.markReady(true);
  const limit = 16 * MAX_CHARS_PER_TOKEN;
  const huge = 'y'.repeat(limit + 1);
  await assert.rejects(
    e.embed({ inputs: ['ok', huge], normalize: false }),
    (err) => isCoalesceError(err) && err.kind === 'over_limit' && new RegExp(`at most ${limit} characters`).test(err.message),
  );
  assert.deepEqual(seen, []);
  await e.embed({ inputs: [huge], normalize: false, truncate: true });
  assert.deepEqual(seen, [limit]);
  // A cut never leaves half a surrogate pair.
  seen.length = 0;
  await e.embed({ inputs: ['y'.repeat(limit - 1) + '😀' + 'y'.repeat(10)], normalize: false, truncate: true });
  assert.deepEqual(seen, [limit - 1]);
});
