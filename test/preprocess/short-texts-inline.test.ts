import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EncodedText, EncodeOptions, TextEncoder } from '../../src/core/types.js';
import { ShortTextsInline } from '../../src/preprocess/short-texts-inline.js';
import { HfTokenizer } from '../../src/preprocess/tokenizer.js';

const DIR = 'test/fixtures/tiny-bert';
const tokenizer = HfTokenizer.fromFiles(`${DIR}/tokenizer.json`, `${DIR}/tokenizer_config.json`, 64);
const right: EncodeOptions = { truncate: true, direction: 'right' };

/** Stands for the worker pool: records what reaches it and answers with the real tokenizer. */
function workers(): TextEncoder & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    maxLength: 64,
    encode: async (texts) => {
      calls.push([...texts]);
      return texts.map((t) => tokenizer.encode(t, right));
    },
    tokenize: async () => [],
    decode: async () => [],
    close: async () => {},
  };
}

const ids = (encoded: EncodedText[]) => encoded.map((e) => [...e.ids]);

test('short ASCII requests are tokenized inline, with the same ids as the workers give', async () => {
  const w = workers();
  const encoder = new ShortTextsInline(tokenizer, w, 100);
  const texts = ['The quick brown fox.', "It's 3 o'clock, isn't it?"];
  assert.deepEqual(ids(await encoder.encode(texts, right)), texts.map((t) => [...tokenizer.encode(t, right).ids]));
  assert.equal(w.calls.length, 0);
});

test('long requests, non-ASCII texts and a limit of 0 go to the workers, whole', async () => {
  const w = workers();
  await new ShortTextsInline(tokenizer, w, 10).encode(['short', 'a bit longer'], right);
  await new ShortTextsInline(tokenizer, w, 100).encode(['plain', 'café au lait'], right);
  await new ShortTextsInline(tokenizer, w, 100).encode(['a [MASK] token'], right);
  await new ShortTextsInline(tokenizer, w, 0).encode(['x'], right);
  assert.deepEqual(w.calls, [['short', 'a bit longer'], ['plain', 'café au lait'], ['a [MASK] token'], ['x']]);
});
