/** /tokenize's offsets as TEI gives them: UTF-8 byte offsets, and the input's own text between them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HfTokenizer } from '../../src/preprocess/tokenizer.js';
import { locatePieces } from '../../src/preprocess/token-offsets.js';
import { ensureDefaultModel } from '../../src/models/default-model.js';
import { DEFAULT_MODEL_CONVERSION_TIMEOUT_MS, TEST_DEFAULT_MODEL_DIR } from '../helpers/default-model.js';
import { TINY_BERT } from '../helpers/server.js';

const options = { truncate: false, direction: 'right' as const, addSpecialTokens: true };
const rows = (tokens: { text: string; special: boolean; start: number | null; stop: number | null }[]) =>
  tokens.map((t) => [t.text, t.special, t.start, t.stop]);

/** Every non-special token's text is the input's bytes between its offsets. */
function assertByteSlices(text: string, tokens: { text: string; special: boolean; start: number | null; stop: number | null }[]): void {
  const bytes = Buffer.from(text);
  for (const t of tokens.filter((t) => !t.special)) {
    assert.ok(t.start !== null && t.stop !== null, `${t.text} has offsets`);
    assert.equal(bytes.subarray(t.start, t.stop).toString(), t.text);
  }
}

test('tiny BERT: accented words keep their case and accents, offsets count UTF-8 bytes', () => {
  const tok = HfTokenizer.fromFiles(join(TINY_BERT, 'tokenizer.json'), join(TINY_BERT, 'tokenizer_config.json'), 64);
  const text = 'Café naïve Straße';
  const tokens = tok.tokenize(text, options);
  assert.deepEqual(rows(tokens), [
    ['[CLS]', true, null, null],
    ['Café', false, 0, 5],
    ['naïve', false, 6, 12],
    ['St', false, 13, 15],
    ['raße', false, 15, 20],
    ['[SEP]', true, null, null],
  ]);
  assertByteSlices(text, tokens);
});

test('tiny BERT: an emoji is an unknown-word token over its 4 bytes, not a special token', () => {
  const tok = HfTokenizer.fromFiles(join(TINY_BERT, 'tokenizer.json'), join(TINY_BERT, 'tokenizer_config.json'), 64);
  const text = 'hi 😀! 北京';
  const tokens = tok.tokenize(text, options);
  assert.deepEqual(rows(tokens), [
    ['[CLS]', true, null, null],
    ['hi', false, 0, 2],
    ['😀', false, 3, 7],
    ['!', false, 7, 8],
    ['北', false, 9, 12],
    ['京', false, 12, 15],
    ['[SEP]', true, null, null],
  ]);
  assert.equal(tokens[2].id, 100, '[UNK]');
  assertByteSlices(text, tokens);
  assert.deepEqual(rows(tok.tokenize(text, { ...options, addSpecialTokens: false })), rows(tokens).slice(1, -1));
});

test('the default model (NFKD, lowercase, strip accents; WordLevel): accents and unknown words', { timeout: DEFAULT_MODEL_CONVERSION_TIMEOUT_MS }, async () => {
  const dir = await ensureDefaultModel(() => {}, TEST_DEFAULT_MODEL_DIR);
  const tok = HfTokenizer.fromFiles(join(dir, 'tokenizer.json'), join(dir, 'tokenizer_config.json'), 512);
  const text = 'Crème Brûlée 🙂 zzqxvblorp café';
  const tokens = tok.tokenize(text, options);
  const words = tokens.filter((t) => !t.special);
  assert.deepEqual(
    words.map((t) => [t.text, t.start, t.stop]),
    [
      ['Crème', 0, 6],
      ['Brûlée', 7, 15],
      ['🙂', 16, 20],
      ['zzqxvblorp', 21, 31],
      ['café', 32, 37],
    ],
  );
  assertByteSlices(text, tokens);
});

test('pieces the normalized text does not contain span the input between their neighbours', () => {
  assert.deepEqual(locatePieces('ab ?? cd', ['ab', '<unk>', 'cd'], null), [
    { start: 0, stop: 2, text: 'ab' },
    { start: 3, stop: 5, text: '??' },
    { start: 6, stop: 8, text: 'cd' },
  ]);
  // Several unknown words in one gap: one word each when they are as many as the pieces, else the gap.
  assert.deepEqual(
    locatePieces('ab ?? !! cd', ['ab', '<unk>', '<unk>', 'cd'], null).map((s) => s && [s.start, s.stop]),
    [
      [0, 2],
      [3, 5],
      [6, 8],
      [9, 11],
    ],
  );
  assert.deepEqual(
    locatePieces('ab ?!? cd', ['ab', '<unk>', '<unk>', 'cd'], null).map((s) => s && [s.start, s.stop]),
    [
      [0, 2],
      [3, 6],
      [3, 6],
      [7, 9],
    ],
  );
  // A normalizer that does not work character by character (it looks at the whole text) falls back to case folding.
  const wholeText = (s: string) => (s.length > 1 ? s.toUpperCase() : s);
  assert.deepEqual(
    locatePieces('Été x', ['ete', 'x'], wholeText).map((s) => s?.text),
    ['Été', 'x'],
  );
});

test("tiny BERT: the same tokens, offsets and texts as Rust's tokenizers on accented, CJK, emoji, ZWJ, combining-mark, ligature and added-token inputs", () => {
  const reference = JSON.parse(readFileSync(join(TINY_BERT, 'tokenize-offsets.json'), 'utf8')) as { cases: { text: string; tokens: unknown[][] }[] };
  const tok = HfTokenizer.fromFiles(join(TINY_BERT, 'tokenizer.json'), join(TINY_BERT, 'tokenizer_config.json'), 512);
  assert.ok(reference.cases.length >= 10);
  for (const { text, tokens } of reference.cases) {
    const ours = tok.tokenize(text, { ...options, truncate: false }).map((t) => [t.id, t.text, t.special, t.start, t.stop]);
    assert.deepEqual(ours, tokens, JSON.stringify(text));
  }
});
