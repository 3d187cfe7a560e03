import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HfTokenizer } from '../../src/preprocess/tokenizer.js';
import { ArrivalEncoder } from '../../src/preprocess/arrival-encoder.js';
import type { EncodeOptions } from '../../src/core/types.js';

const DIR = 'test/fixtures/tiny-bert';
const files = [`${DIR}/tokenizer.json`, `${DIR}/tokenizer_config.json`] as const;
const sentences = (JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as { sentences: string[] }).sentences;
const ascii = sentences.filter((t) => /^[\x20-\x7e]*$/.test(t));
const words = 'the quick brown fox JUMPS over a lazy dog, twice! unbelievably well-known e-mail u.s.a. x'.split(' ');
const texts = [...ascii, ...Array.from({ length: 300 }, (_, i) => Array.from({ length: i % 40 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' '))];

/** The same tokenizer with its direct-id encoding off, so encode takes the library's post-processor. */
function viaPostProcessor(maxLength: number): HfTokenizer {
  const t = HfTokenizer.fromFiles(...files, maxLength);
  (t as unknown as { around: unknown }).around = null;
  return t;
}

test('encode with the fast path gives the ids the post-processor gives, truncated either way or not', () => {
  for (const maxLength of [64, 12]) {
    const fast = HfTokenizer.fromFiles(...files, maxLength);
    const slow = viaPostProcessor(maxLength);
    const options: EncodeOptions[] = [
      { truncate: true, direction: 'right' },
      { truncate: true, direction: 'left' },
      { truncate: false, direction: 'right' },
    ];
    for (const text of texts) {
      for (const o of options)
        assert.deepEqual([...fast.encode(text, o).ids], [...slow.encode(text, o).ids], `${maxLength} ${JSON.stringify(o)} ${JSON.stringify(text)}`);
    }
  }
});

test('the arrival encoder encodes exactly as the facade would, and leaves anything else to it', () => {
  const tokenizer = HfTokenizer.fromFiles(...files, 12);
  assert.deepEqual(tokenizer.specialIds(), { before: [101], after: [102] });
  const arrival = ArrivalEncoder.fromSpec({ tokenizerPath: files[0], configPath: files[1], maxLength: 12, ...tokenizer.specialIds()! })!;
  const fitting = texts.filter((t) => tokenizer.encode(t, { truncate: false, direction: 'right' }).ids.length <= 12);
  assert.ok(fitting.length > 50);
  const encoded = arrival.encodeAll(fitting)!;
  assert.deepEqual(
    encoded.map((e) => [...e.ids]),
    fitting.map((t) => [...tokenizer.encode(t, { truncate: false, direction: 'right' }).ids]),
  );
  // One text it cannot take leaves the whole request to the facade: non-ASCII, an added token, too long for the model.
  for (const other of ['héllo', 'a [MASK] b', 'one two three four five six seven eight nine ten eleven'])
    assert.equal(arrival.encodeAll(['fine', other]), null, other);
});

test('a tokenizer without the BERT fast path gives no arrival encoder', () => {
  const json = JSON.parse(readFileSync(files[0], 'utf8'));
  const t = new HfTokenizer({ ...json, normalizer: { type: 'Lowercase' } }, {}, 64);
  assert.equal(t.specialIds(), null);
});
