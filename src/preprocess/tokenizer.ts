import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import type { EncodedText, EncodeOptions, TextEncoder, TextPair, Token } from '../core/types.js';
import { CoalesceError, isCoalesceError } from '../errors.js';
import { BertFastPath, withSpecialIds } from './bert-fast-path.js';
import { locatePieces } from './token-offsets.js';

/** The ids a tokenizer's post-processor puts before and after one text's pieces (e.g. [CLS] and [SEP]). */
export interface SpecialIds {
  before: number[];
  after: number[];
}

/**
 * What the tokenizer threw, as the one error every tokenizing path raises, on the main thread or
 * in a TokenizerPool worker: the 'tokenizer' kind (TEI answers 422 over HTTP, FAILED_PRECONDITION over gRPC).
 */
export function tokenizerError(e: unknown): CoalesceError {
  if (isCoalesceError(e)) return e;
  return new CoalesceError('tokenizer', e instanceof Error ? e.message : String(e));
}

/** Runs a tokenizer call, its failure as tokenizerError. */
function tokenizing<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (e) {
    return Promise.reject(tokenizerError(e));
  }
}

/** tokenizer.json and tokenizer_config.json (empty when there is none), parsed. */
export function readTokenizerFiles(tokenizerPath: string, configPath: string | null): { json: Record<string, unknown>; config: Record<string, unknown> } {
  return {
    json: JSON.parse(readFileSync(tokenizerPath, 'utf8')) as Record<string, unknown>,
    config: configPath ? (JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>) : {},
  };
}

interface PostProcessed {
  tokens: string[];
  token_type_ids?: number[];
}
type PostProcessor = (tokens: string[], pair: string[] | null, addSpecialTokens: boolean) => PostProcessed;

/**
 * How many tokens of each text of a pair to keep so both fit `room`: Hugging Face tokenizers'
 * LongestFirst (utils/truncation.rs): the shorter text is kept whole when the longer one can give
 * way, else each gets half (the second one the odd token).
 */
export function longestFirst(first: number, second: number, room: number): [number, number] {
  if (first + second <= room) return [first, second];
  const swap = first > second;
  let n1 = swap ? second : first;
  let n2 = n1 > room ? n1 : Math.max(n1, room - n1);
  if (n1 + n2 > room) {
    n1 = Math.floor(room / 2);
    n2 = n1 + (room % 2);
  }
  return swap ? [n2, n1] : [n1, n2];
}

/** Where the run `inner` starts in `outer` (the post-processor keeps a text's pieces together), -1 if nowhere. */
function runStart(outer: readonly string[], inner: readonly string[]): number {
  for (let i = 0; i + inner.length <= outer.length; i++) {
    let k = 0;
    while (k < inner.length && outer[i + k] === inner[k]) k++;
    if (k === inner.length) return i;
  }
  return -1;
}

/**
 * A Hugging Face tokenizer.json, with the truncation and special-token handling the JS library
 * lacks: it splits into tokens without special tokens, truncates to the model's limit in the
 * requested direction, then lets the tokenizer's own post-processor add [CLS]/[SEP] and friends.
 */
export class HfTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly vocab: Map<string, number>;
  private readonly unkId: number;
  /** The tokenizer's normalizer, for finding tokens in the input (null: none). */
  private readonly normalize: ((text: string) => string) | null;
  private readonly postProcess: PostProcessor | null;
  /** Plain BERT WordPiece on ASCII text, without the library (null: not a BERT tokenizer). */
  private readonly fast: BertFastPath | null;
  /** Special tokens the post-processor adds to one text; they count against maxLength. */
  readonly specialCount: number;
  /** One more than the largest token id (added tokens included). */
  readonly vocabSize: number;
  /** The ids the post-processor puts around one text's pieces, for encoding fast-path ids directly (null: no fast path, or no fixed layout). */
  private readonly around: SpecialIds | null;

  constructor(
    tokenizerJson: Record<string, unknown>,
    tokenizerConfig: Record<string, unknown>,
    readonly maxLength: number,
  ) {
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    // The library's WordPiece map, not a third copy of the vocabulary per tokenizer thread.
    const wordPiece = (this.tokenizer as unknown as { model?: { tokens_to_ids?: Map<string, number> } }).model?.tokens_to_ids;
    this.fast = BertFastPath.from(tokenizerJson, tokenizerConfig, wordPiece);
    this.vocab = this.tokenizer.get_vocab(true);
    let largest = -1;
    for (const id of this.vocab.values()) if (id > largest) largest = id;
    this.vocabSize = largest + 1;
    const model = tokenizerJson.model as { unk_token?: string; unk_id?: number };
    const unkToken = model.unk_token ?? (tokenizerConfig.unk_token as string | undefined);
    // WordLevel models in @huggingface/tokenizers give no id for unknown words: map them to unk.
    this.unkId = (unkToken !== undefined ? this.vocab.get(unkToken) : undefined) ?? model.unk_id ?? 0;
    const normalizer = (this.tokenizer as unknown as { normalizer: ((text: string) => string) | null }).normalizer;
    this.normalize = normalizer ? (text) => normalizer(text) : null;
    const pp = (this.tokenizer as unknown as { post_processor: PostProcessor | null }).post_processor;
    this.postProcess = pp ? (tokens, pair, add) => pp(tokens, pair, add) : null;
    this.specialCount = this.postProcess ? this.postProcess([], null, true).tokens.length : 0;
    this.around = this.fast ? this.specialLayout() : null;
    if (maxLength <= this.specialCount) {
      throw new Error(`max input length ${maxLength} leaves no room next to ${this.specialCount} special tokens`);
    }
  }

  /**
   * Where the post-processor puts one text's tokens among its special tokens, found by running it
   * on stand-in tokens; null when that depends on the text, or the segment ids are not all zero
   * (encode leaves zeros out: the backend pads with them).
   */
  private specialLayout(): SpecialIds | null {
    const run = (tokens: string[]) => (this.postProcess ? this.postProcess(tokens, null, true) : { tokens });
    const one = run(['\u0000a']);
    const at = one.tokens.indexOf('\u0000a');
    const two = run(['\u0000a', '\u0000b']);
    const before = one.tokens.slice(0, at);
    const after = one.tokens.slice(at + 1);
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((t, i) => t === b[i]);
    if (at < 0 || !same(two.tokens, [...before, '\u0000a', '\u0000b', ...after])) return null;
    if ((two.token_type_ids ?? []).some((t) => t !== 0)) return null;
    const ids = (tokens: string[]) => tokens.map((t) => this.vocab.get(t));
    const [b, a] = [ids(before), ids(after)];
    return b.every((id) => id !== undefined) && a.every((id) => id !== undefined) ? { before: b as number[], after: a as number[] } : null;
  }

  static fromFiles(tokenizerPath: string, configPath: string | null, maxLength: number): HfTokenizer {
    const { json, config } = readTokenizerFiles(tokenizerPath, configPath);
    return new HfTokenizer(json, config, maxLength);
  }

  /** The model's pieces of a text, without special tokens, truncated when asked to leave room for them. */
  private modelPieces(text: string, { truncate, direction }: EncodeOptions, addSpecialTokens: boolean): string[] {
    const tokens = this.fast?.tokenize(text) ?? this.tokenizer.tokenize(text, { add_special_tokens: false });
    const room = this.maxLength - (addSpecialTokens ? this.specialCount : 0);
    if (truncate && tokens.length > room) return direction === 'left' ? tokens.slice(tokens.length - room) : tokens.slice(0, room);
    return tokens;
  }

  /** Tokens with special tokens, truncated when asked; without truncation the result may exceed maxLength. */
  private pieces(text: string, options: EncodeOptions, addSpecialTokens: boolean): PostProcessed {
    const tokens = this.modelPieces(text, options, addSpecialTokens);
    return this.postProcess && addSpecialTokens ? this.postProcess(tokens, null, true) : { tokens };
  }

  private id(token: string): number {
    return this.vocab.get(token) ?? this.unkId;
  }

  encode(text: string, options: EncodeOptions): EncodedText {
    const fast = this.around && this.fast!.ids(text);
    if (fast) return { ids: this.withSpecialIds(fast, options) };
    const { tokens, token_type_ids } = this.pieces(text, options, true);
    const ids = new Uint32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) ids[i] = this.id(tokens[i]);
    // No segment ids from the post-processor: leave them out (the backend pads with zeros), one buffer less per text.
    return token_type_ids ? { ids, typeIds: Uint8Array.from(token_type_ids) } : { ids };
  }

  /** A (query, document) pair as one input: [CLS] a [SEP] b [SEP] for BERT, with segment ids; cut longest first. */
  encodePair([a, b]: TextPair, { truncate, direction }: EncodeOptions): EncodedText {
    const split = (text: string) => this.fast?.tokenize(text) ?? this.tokenizer.tokenize(text, { add_special_tokens: false });
    let first = split(a);
    let second = split(b);
    const pairSpecials = this.postProcess ? this.postProcess([], [], true).tokens.length : 0;
    const room = Math.max(0, this.maxLength - pairSpecials);
    if (truncate && first.length + second.length > room) {
      const [n1, n2] = longestFirst(first.length, second.length, room);
      const cut = (t: string[], n: number) => (direction === 'left' ? t.slice(t.length - n) : t.slice(0, n));
      first = cut(first, n1);
      second = cut(second, n2);
    }
    const { tokens, token_type_ids } = this.postProcess ? this.postProcess(first, second, true) : { tokens: [...first, ...second], token_type_ids: undefined };
    const ids = new Uint32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) ids[i] = this.id(tokens[i]);
    return { ids, typeIds: Uint8Array.from(token_type_ids ?? new Array(tokens.length).fill(0)) };
  }

  /** The special-token ids an HTTP thread puts around a text to encode as this tokenizer does (arrival-encoder.ts); null without a fast path. */
  specialIds(): SpecialIds | null {
    return this.around;
  }

  /** Fast-path piece ids truncated as asked, between the post-processor's special ids. */
  private withSpecialIds(pieces: number[], { truncate, direction }: EncodeOptions): Uint32Array {
    const { before, after } = this.around!;
    const room = this.maxLength - before.length - after.length;
    let from = 0;
    let to = pieces.length;
    if (truncate && pieces.length > room) [from, to] = direction === 'left' ? [pieces.length - room, pieces.length] : [0, room];
    return withSpecialIds(pieces, from, to, before, after);
  }

  /**
   * Tokens as TEI's /tokenize returns them: the tokens the post-processor adds are special, with
   * their token text and no offsets; the model's tokens (unknown-word and added tokens in the
   * input too) carry byte offsets into the UTF-8 input and the input's text between them
   * (token-offsets.ts). Checked against Rust tokenizers' offsets on accented, CJK, emoji,
   * ZWJ-sequence, combining-mark and ligature inputs.
   */
  tokenize(text: string, options: EncodeOptions & { addSpecialTokens: boolean }): Token[] {
    const pieces = this.modelPieces(text, options, options.addSpecialTokens);
    const spans = locatePieces(text, pieces, this.normalize);
    const tokens = this.postProcess && options.addSpecialTokens ? this.postProcess(pieces, null, true).tokens : pieces;
    const first = tokens === pieces ? 0 : runStart(tokens, pieces);
    return tokens.map((piece, k) => {
      const id = this.id(piece);
      const i = first < 0 ? -1 : k - first;
      const span = i >= 0 && i < pieces.length ? spans[i] : undefined;
      // Only the post-processor's tokens are special: an added token typed in the input is not (Rust's special_tokens_mask).
      const special = span === undefined;
      if (special || span === null) return { id, text: piece, special, start: null, stop: null };
      return { id, text: span.text, special: false, start: span.start, stop: span.stop };
    });
  }

  decode(ids: readonly number[], skipSpecialTokens: boolean): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }
}

/** Tokenizes on the calling thread. */
export class InlineTextEncoder implements TextEncoder {
  constructor(private readonly tokenizer: HfTokenizer) {}

  get maxLength(): number {
    return this.tokenizer.maxLength;
  }

  get vocabSize(): number {
    return this.tokenizer.vocabSize;
  }

  encode(texts: readonly string[], options: EncodeOptions): Promise<EncodedText[]> {
    return tokenizing(() => texts.map((t) => this.tokenizer.encode(t, options)));
  }

  encodePairs(pairs: readonly TextPair[], options: EncodeOptions): Promise<EncodedText[]> {
    return tokenizing(() => pairs.map((p) => this.tokenizer.encodePair(p, options)));
  }

  tokenize(texts: readonly string[], options: EncodeOptions & { addSpecialTokens: boolean }): Promise<Token[][]> {
    return tokenizing(() => texts.map((t) => this.tokenizer.tokenize(t, options)));
  }

  decode(ids: readonly number[][], skipSpecialTokens: boolean): Promise<string[]> {
    return tokenizing(() => ids.map((i) => this.tokenizer.decode(i, skipSpecialTokens)));
  }

  specialIds(): SpecialIds | null {
    return this.tokenizer.specialIds();
  }

  async close(): Promise<void> {}
}
