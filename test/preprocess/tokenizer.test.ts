import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HfTokenizer, InlineTextEncoder } from '../../src/preprocess/tokenizer.js';
import { TokenizerPool } from '../../src/preprocess/tokenizer-pool.js';

const DIR = 'test/fixtures/tiny-bert';
const ref = JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as { sentences: string[]; input_ids: number[][] };
const files = { tokenizerPath: `${DIR}/tokenizer.json`, configPath: `${DIR}/tokenizer_config.json`, maxLength: 64 };
const right = { truncate: true, direction: 'right' as const };

let pool: TokenizerPool;
before(async () => {
  pool = await TokenizerPool.start(files, 2);
});
after(() => pool.close());

test('special tokens count against the max length and are kept when truncating', () => {
  const t = HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, 8);
  assert.equal(t.specialCount, 2);
  const ids = [...t.encode('one two three four five six seven eight nine', right).ids];
  assert.equal(ids.length, 8);
  assert.equal(ids[0], 101);
  assert.equal(ids[7], 102);
  const left = [...t.encode('one two three four five six seven eight nine', { truncate: true, direction: 'left' }).ids];
  assert.deepEqual([left[0], left[7]], [101, 102]);
  assert.equal(t.decode(left, true), 'four five six seven eight nine');
  assert.equal(t.encode('one two three four five six seven eight nine', { truncate: false, direction: 'right' }).ids.length, 11);
});

test("the worker pool gives exactly the inline tokenizer's ids, in order", async () => {
  const inline = new InlineTextEncoder(HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, 64));
  const texts = Array.from({ length: 50 }, (_, i) => ref.sentences[i % ref.sentences.length]);
  const [a, b] = await Promise.all([inline.encode(texts, right), pool.encode(texts, right)]);
  assert.deepEqual(
    b.map((e) => [...e.ids]),
    a.map((e) => [...e.ids]),
  );
  assert.deepEqual(
    b.slice(0, ref.sentences.length).map((e) => [...e.ids]),
    ref.input_ids,
  );
  const concurrent = await Promise.all(ref.sentences.map((s) => pool.encode([s], right)));
  assert.deepEqual(
    concurrent.map((r) => [...r[0].ids]),
    ref.input_ids,
  );
});

test('a lone short request is encoded on the calling thread, exactly as the workers encode it; anything else goes to them', async () => {
  const inline = new InlineTextEncoder(HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, 64));
  const ascii = ref.sentences.filter((t) => /^[\x20-\x7e]*$/.test(t) && t.length <= 512);
  assert.ok(ascii.length > 5);
  for (const text of ascii) {
    await new Promise((r) => setImmediate(r));
    const before = pool.encodedInline;
    const [got] = await pool.encode([text], right);
    assert.equal(pool.encodedInline, before + 1, text);
    assert.deepEqual([...got.ids], [...(await inline.encode([text], right))[0].ids], text);
  }
  // Through the workers: a text the fast path declines, a long one, and texts arriving while a call is in flight.
  for (const text of ['héllo wörld', 'word '.repeat(200)]) {
    const before = pool.encodedInline;
    const [got] = await pool.encode([text], right);
    assert.equal(pool.encodedInline, before, text.slice(0, 20));
    assert.deepEqual([...got.ids], [...(await inline.encode([text], right))[0].ids]);
  }
  await new Promise((r) => setImmediate(r));
  const before = pool.encodedInline;
  const busy = pool.encode(['x '.repeat(300)], right);
  const [during] = await pool.encode([ascii[0]], right);
  await busy;
  assert.equal(pool.encodedInline, before);
  assert.deepEqual([...during.ids], [...(await inline.encode([ascii[0]], right))[0].ids]);
  // A burst in one turn: the first is encoded here, the rest by the workers.
  await new Promise((r) => setImmediate(r));
  const burst = await Promise.all(ascii.map((t) => pool.encode([t], right)));
  assert.equal(pool.encodedInline, before + 1);
  assert.deepEqual(
    burst.map((r) => [...r[0].ids]),
    await Promise.all(ascii.map(async (t) => [...(await inline.encode([t], right))[0].ids])),
  );
});

test('the pool also tokenizes and decodes', async () => {
  const [tokens] = await pool.tokenize(['Hello world'], { ...right, addSpecialTokens: true });
  assert.deepEqual(
    tokens.map((t) => t.id),
    [101, 7592, 2088, 102],
  );
  assert.deepEqual(await pool.decode([[101, 7592, 2088, 102]], true), ['hello world']);
});

test("the pool reports its workers' special-token ids, as the inline encoder does", () => {
  const inline = new InlineTextEncoder(HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, 64));
  assert.deepEqual(inline.specialIds(), { before: [101], after: [102] });
  assert.deepEqual(pool.specialIds(), inline.specialIds());
});
