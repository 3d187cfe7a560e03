import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { BertFastPath } from '../../src/preprocess/bert-fast-path.js';

const DIR = 'test/fixtures/tiny-bert';
const json = JSON.parse(readFileSync(`${DIR}/tokenizer.json`, 'utf8'));
const config = JSON.parse(readFileSync(`${DIR}/tokenizer_config.json`, 'utf8'));
const sentences = (JSON.parse(readFileSync(`${DIR}/reference.json`, 'utf8')) as { sentences: string[] }).sentences;
const library = new Tokenizer(json, config);
const fast = BertFastPath.from(json, config)!;
const slow = (text: string) => library.tokenize(text, { add_special_tokens: false });

/** Seeded, so a failure names a text that can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** ASCII texts that exercise every branch: known words, words split into pieces, unknown and over-long words, punctuation, case, tab/LF/CR. */
function asciiTexts(count: number): string[] {
  const r = rng(7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const words = Object.keys(json.model.vocab as Record<string, number>).filter((w) => /^[a-z0-9]+$/.test(w));
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
  const gaps = [' ', ' ', ' ', '  ', '\t', '\n', '\r\n', ''];
  const piece = (): string => {
    const kind = r();
    if (kind < 0.45) return pick(words);
    if (kind < 0.55) return pick(words).toUpperCase();
    if (kind < 0.7) return pick(words) + pick(words); // usually split into ## pieces
    if (kind < 0.85) return Array.from({ length: 1 + Math.floor(r() * 12) }, () => pick([...letters])).join('');
    if (kind < 0.97) return Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick([...punctuation])).join('');
    return 'x'.repeat(95 + Math.floor(r() * 10)); // around max_input_chars_per_word
  };
  return Array.from({ length: count }, () => {
    const n = Math.floor(r() * 40);
    let text = r() < 0.2 ? pick(gaps) : '';
    for (let i = 0; i < n; i++) text += piece() + pick(gaps);
    return text;
  });
}

test('on ASCII text the fast path gives exactly the library tokens', () => {
  const texts = [
    ...sentences.filter((t) => /^[\x20-\x7e]*$/.test(t)),
    ...asciiTexts(3000),
    '',
    '   ',
    '\t\n',
    'a',
    '...',
    "don't",
    'U.S.A.',
    'e-mail@x.org',
    'x'.repeat(100),
    'x'.repeat(101),
  ];
  for (const text of texts) {
    const tokens = fast.tokenize(text);
    assert.ok(tokens, `the fast path declined ${JSON.stringify(text)}`);
    assert.deepEqual(tokens, slow(text), JSON.stringify(text));
  }
});

test('it declines non-ASCII text, control characters and text with an added token, in any case', () => {
  for (const text of [
    ...sentences.filter((t) => /[^\x20-\x7e]/.test(t)),
    'héllo wörld',
    'naïve café',
    '東京',
    'emoji 🙂',
    'a\u000bb',
    'a\u0000b',
    'a [MASK] b',
    'a [mask] b',
    'x[CLS]',
    '[sep]',
  ]) {
    assert.equal(fast.tokenize(text), null, JSON.stringify(text));
  }
});

test('it exists only for a BERT WordPiece pipeline the library would run unchanged', () => {
  assert.ok(BertFastPath.from(json, {}));
  assert.equal(BertFastPath.from({ ...json, normalizer: { type: 'Lowercase' } }, config), null);
  assert.equal(BertFastPath.from({ ...json, pre_tokenizer: { type: 'Whitespace' } }, config), null);
  assert.equal(BertFastPath.from({ ...json, model: { ...json.model, type: 'WordLevel' } }, config), null);
  assert.equal(BertFastPath.from(json, { ...config, remove_space: true }), null);
  assert.equal(BertFastPath.from(json, { ...config, do_lowercase_and_remove_accent: true }), null);
  // A cased BERT keeps the case.
  const cased = BertFastPath.from({ ...json, normalizer: { ...json.normalizer, lowercase: false } }, config)!;
  assert.deepEqual(
    cased.tokenize('The CAT'),
    new Tokenizer({ ...json, normalizer: { ...json.normalizer, lowercase: false } }, config).tokenize('The CAT', { add_special_tokens: false }),
  );
});
