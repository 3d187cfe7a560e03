/**
 * The BERT tokenizer (BertNormalizer, BertPreTokenizer, WordPiece) for plain ASCII text, written
 * for speed: @huggingface/tokenizers spends ~2 µs per token in Unicode regular expressions and
 * per-character arrays, and under the single-text GPU load (W2) tokenization took more CPU than
 * anything else in the server (8 worker threads at ~0.4 core each, bench/results/gpu).
 *
 * It gives exactly the library's tokens or declines (null), and the library then runs as before:
 * on any character outside printable ASCII, tab, LF and CR, on text that contains an added token
 * (such as [MASK]), and for tokenizer.json files of any other shape. Tested token for token
 * against the library (test/preprocess/bert-fast-path.test.ts).
 */

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

export class BertFastPath {
  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly lowercase: boolean,
    private readonly unk: string,
    private readonly prefix: string,
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
    const pieces = vocab ?? new Map(Object.entries(model.vocab));
    if (model.unk_token === undefined || !pieces.has(model.unk_token)) return null;
    return new BertFastPath(
      pieces,
      normalizer.lowercase === true,
      model.unk_token,
      model.continuing_subword_prefix ?? '##',
      model.max_input_chars_per_word ?? 100,
      (json.added_tokens ?? []).map((t) => t.content.toLowerCase()),
    );
  }

  /** The word pieces of `text` (no special tokens), or null when the library must do it. */
  tokenize(text: string): string[] | null {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if ((c < SPACE || c > 0x7e) && c !== TAB && c !== LF && c !== CR) return null;
    }
    // For ASCII text the normalizer only lowercases: accents, CJK spacing and control characters cannot occur.
    const normalized = this.lowercase ? text.toLowerCase() : text;
    const lower = this.lowercase ? normalized : text.toLowerCase();
    for (const token of this.added) if (lower.includes(token)) return null;

    const out: string[] = [];
    let start = -1;
    for (let i = 0; i <= normalized.length; i++) {
      const c = i < normalized.length ? normalized.charCodeAt(i) : SPACE;
      const space = c === SPACE || c === TAB || c === LF || c === CR;
      const punctuation = !space && isPunctuation(c);
      if (space || punctuation) {
        if (start >= 0) this.wordPieces(normalized.slice(start, i), out);
        start = -1;
        if (punctuation) this.wordPieces(normalized[i], out);
      } else if (start < 0) {
        start = i;
      }
    }
    return out;
  }

  /** WordPiece as the library does it: longest known prefix first, the whole word unknown if any piece is. */
  private wordPieces(word: string, out: string[]): void {
    if (word.length > this.maxWordChars) {
      out.push(this.unk);
      return;
    }
    const first = out.length;
    let start = 0;
    while (start < word.length) {
      let end = word.length;
      let piece: string | null = null;
      while (start < end) {
        const candidate = start > 0 ? this.prefix + word.slice(start, end) : word.slice(start, end);
        if (this.vocab.has(candidate)) {
          piece = candidate;
          break;
        }
        end--;
      }
      if (piece === null) {
        out.length = first;
        out.push(this.unk);
        return;
      }
      out.push(piece);
      start = end;
    }
  }
}
