/**
 * Tokenizing BERT text, side by side in one run: @huggingface/tokenizers' tokenize against the
 * ASCII fast path (src/preprocess/bert-fast-path.ts), on the same texts, one thread: its word
 * pieces as strings (what /tokenize uses) and as ids (what encoding uses). Texts are the
 * benchmark's sentence generator at two lengths, single sentences and ~128-token passages, and
 * texts like the GPU bench's W2 (random vocabulary words, 53 per text, as make_bert_base.py
 * writes them). Prints µs per text and the ratio; writes bench/results/tokenize.{json,md}.
 *
 * usage: node dist/bench/tokenize.js [--tokenizer DIR] [--seconds S] [--out bench/results]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { BertFastPath } from '../src/preprocess/bert-fast-path.js';
import { rng, sentence } from './texts.js';
import { flagValue } from './args.js';

const DIR = flagValue('tokenizer', 'test/fixtures/tiny-bert');
const SECONDS = Number(flagValue('seconds', '2'));
const OUT = flagValue('out', 'bench/results');

const json = JSON.parse(readFileSync(join(DIR, 'tokenizer.json'), 'utf8'));
const config = JSON.parse(readFileSync(join(DIR, 'tokenizer_config.json'), 'utf8'));
const library = new Tokenizer(json, config);
const fast = BertFastPath.from(json, config);
if (!fast) throw new Error(`${DIR}/tokenizer.json is not a BERT WordPiece tokenizer`);

function texts(seed: number, sentencesPerText: number): string[] {
  const r = rng(seed);
  return Array.from({ length: 2000 }, () => Array.from({ length: sentencesPerText }, () => sentence(r)).join(' '));
}

/** µs per text over about SECONDS, after one warm pass. */
function perText(all: string[], tokenize: (t: string) => unknown): number {
  for (const t of all) tokenize(t);
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) tokenize(all[n++ % all.length]);
  return ((performance.now() - started) * 1000) / n;
}

/** Like make_bert_base.py's W2 texts: whole vocabulary words of 3-12 letters. */
function vocabularyTexts(seed: number, words: number): string[] {
  const r = rng(seed);
  const vocabulary = Object.keys(json.model.vocab as Record<string, number>).filter((w) => /^[a-z]{3,12}$/.test(w));
  return Array.from({ length: 2000 }, () => Array.from({ length: words }, () => vocabulary[Math.floor(r() * vocabulary.length)]).join(' '));
}

const rows = [
  { name: 'one sentence', texts: texts(1, 1) },
  { name: 'six sentences (~W1 128 tokens)', texts: texts(2, 6) },
  { name: 'W2-like: 53 vocabulary words', texts: vocabularyTexts(3, 53) },
].map(({ name, texts: all }) => {
  const declined = all.filter((t) => fast.tokenize(t) === null).length;
  const tokens = all.reduce((n, t) => n + library.tokenize(t, { add_special_tokens: false }).length, 0) / all.length;
  // Alternating, twice: a drifting machine shows up as disagreeing rounds, not as a ratio.
  const rounds = [0, 1].map(() => ({
    libraryUs: perText(all, (t) => library.tokenize(t, { add_special_tokens: false })),
    fastUs: perText(all, (t) => fast.tokenize(t)),
    fastIdsUs: perText(all, (t) => fast.ids(t)),
  }));
  return { name, meanTokens: tokens, declined, rounds };
});

const md = [
  '# BERT tokenization: @huggingface/tokenizers vs the ASCII fast path (one thread, same texts)',
  '',
  '| texts | tokens/text | library µs/text | fast path µs/text | speed-up | fast path, ids µs/text | speed-up |',
  '| --- | ---: | --- | --- | --- | --- | --- |',
  ...rows.map((r) => {
    const us = (k: 'libraryUs' | 'fastUs' | 'fastIdsUs') => r.rounds.map((x) => x[k].toFixed(1)).join(' / ');
    const ratio = (k: 'fastUs' | 'fastIdsUs') => r.rounds.map((x) => (x.libraryUs / x[k]).toFixed(1) + 'x').join(' / ');
    return `| ${r.name} | ${r.meanTokens.toFixed(1)} | ${us('libraryUs')} | ${us('fastUs')} | ${ratio('fastUs')} | ${us('fastIdsUs')} | ${ratio('fastIdsUs')} |`;
  }),
];
console.log(md.join('\n'));
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'tokenize.json'), JSON.stringify({ tokenizer: DIR, seconds: SECONDS, rows }, null, 2));
writeFileSync(join(OUT, 'tokenize.md'), md.join('\n') + '\n');
