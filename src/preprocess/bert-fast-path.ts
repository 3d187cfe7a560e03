/**
 * The BERT tokenizer (BertNormalizer, BertPreTokenizer, WordPiece) for plain ASCII text, written
 * for speed: @huggingface/tokenizers spends ~2 µs per token in Unicode regular expressions and
 * per-character arrays, and under the single-text GPU load (W2) tokenization took more CPU than
 * anything else in the server (8 worker threads at ~0.4 core each on an H100). It reads
 * the text's character codes once and finds each piece's id by walking a trie (piece-trie.ts).
 *
 * It gives exactly the library's tokens or declines (null), and the library then runs as before:
 * on any character outside printable ASCII, tab, LF and CR, on text that contains an added token
 * (such as [MASK]), and for tokenizer.json files of any other shape. Tested token for token
 * against the library (test/preprocess/bert-fast-path.test.ts).
 */
import { PieceTrie } from './piece-trie.js';

interface TokenizerJson {
  normalizer?: { type?: string; lowercase?: boolean } | null;
  pre_tokenizer?: { type?: string } | null;
  model?: { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
  added_tokens?: { content: string }[];
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

/** ASCII punctuation as BertPreTokenizer splits it: !"#$%&'()*+,-./ :;<=>?@ [\]^_` {|}~ */
function isPunctuation(c: number): boolean {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/** Pieces `from` .. `to` of a text between the post-processor's special-token ids, as the model takes them. */
export function withSpecialIds(pieces: readonly number[], from: number, to: number, before: readonly number[], after: readonly number[]): Uint32Array {
  const ids = new Uint32Array(before.length + (to - from) + after.length);
  ids.set(before, 0);
  for (let i = from; i < to; i++) ids[before.length + i - from] = pieces[i];
  ids.set(after, before.length + to - from);
  return ids;
}

export class BertFastPath {
  /** The text's character codes, lowercased when the normalizer lowercases; grown as needed. */
  private codes = new Uint8Array(1024);

  private constructor(
    private readonly trie: PieceTrie,
    /** Piece by id, for `tokenize`. */
    private readonly pieces: string[],
    private readonly lowercase: boolean,
    private readonly unkId: number,
    private readonly maxWordChars: number,
    /** Added tokens, lowercased: a text containing one (in any case) is left to the library. */
    private readonly added: string[],
  ) {}

  /**
   * The fast path for this tokenizer, or null when its pipeline is not plain BERT WordPiece.
   * `vocab`: the WordPiece model's own token -> id map when the caller already has one (the
   * library's), else built from the JSON.
   */
  static from(json: TokenizerJson, config: Record<string, unknown>, vocab?: Map<string, number>): BertFastPath | null {
    const { normalizer, pre_tokenizer: pre, model } = json;
    if (normalizer?.type !== 'BertNormalizer' || pre?.type !== 'BertPreTokenizer' || model?.type !== 'WordPiece' || !model.vocab) return null;
    // Options of the library's Tokenizer that change the text before the normalizer.
    if (config.remove_space === true || config.do_lowercase_and_remove_accent) return null;
    // The model's own vocabulary, as the library's WordPiece looks pieces up (added tokens are not in it).
    const vocabulary = vocab ?? new Map(Object.entries(model.vocab));
    const unkId = model.unk_token === undefined ? undefined : vocabulary.get(model.unk_token);
    if (unkId === undefined) return null;
    const pieces: string[] = [];
    for (const [piece, id] of vocabulary) {
      // Two pieces with one id would make `tokenize` ambiguous: leave such a vocabulary to the library.
      if (pieces[id] !== undefined) return null;
      pieces[id] = piece;
    }
    return new BertFastPath(
      PieceTrie.build(vocabulary, model.continuing_subword_prefix ?? '##'),
      pieces,
      normalizer.lowercase === true,
      unkId,
      model.max_input_chars_per_word ?? 100,
      (json.added_tokens ?? []).map((t) => t.content.toLowerCase()),
    );
  }

  /** The word pieces of `text` (no special tokens), or null when the library must do it. */
  tokenize(text: string): string[] | null {
    return this.ids(text)?.map((id) => this.pieces[id]) ?? null;
  }

  /** The ids of `text`'s word pieces (no special tokens), or null when the library must do it. */
  ids(text: string): number[] | null {
    const n = text.length;
    if (this.codes.length < n) this.codes = new Uint8Array(Math.max(n, this.codes.length * 2));
    const codes = this.codes;
    for (let i = 0; i < n; i++) {
      let c = text.charCodeAt(i);
      if ((c < SPACE || c > 0x7e) && c !== TAB && c !== LF && c !== CR) return null;
      // For ASCII text the normalizer only lowercases: accents, CJK spacing and control characters cannot occur.
      if (this.lowercase && c >= 0x41 && c <= 0x5a) c += 0x20;
      codes[i] = c;
    }
    if (this.added.length > 0) {
      const lower = text.toLowerCase();
      for (const token of this.added) if (lower.includes(token)) return null;
    }

    const out: number[] = [];
    let start = -1;
    for (let i = 0; i <= n; i++) {
      const c = i < n ? codes[i] : SPACE;
      const space = c === SPACE || c === TAB || c === LF || c === CR;
      const punctuation = !space && isPunctuation(c);
      if (space || punctuation) {
        if (start >= 0) this.wordPieces(codes, start, i, out);
        start = -1;
        if (punctuation) this.wordPieces(codes, i, i + 1, out);
      } else if (start < 0) {
        start = i;
      }
    }
    return out;
  }

  /** WordPiece as the library does it: longest known prefix first, the whole word unknown if any piece is. */
  private wordPieces(codes: Uint8Array, start: number, end: number, out: number[]): void {
    if (end - start > this.maxWordChars) {
      out.push(this.unkId);
      return;
    }
    const first = out.length;
    for (let at = start; at < end; at = this.trie.matchEnd) {
      const id = this.trie.longest(codes, at, end, at > start);
      if (id < 0) {
        out.length = first;
        out.push(this.unkId);
        return;
      }
      out.push(id);
    }
  }
}
