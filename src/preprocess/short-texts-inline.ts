import type { EncodedText, EncodeOptions, TextEncoder, Token } from '../core/types.js';
import type { HfTokenizer } from './tokenizer.js';

/**
 * The tokenizer workers, except for short requests that a BERT tokenizer's ASCII fast path takes:
 * those are tokenized on the calling (main) thread, a few µs per sentence. Under the single-text
 * GPU load (W2) the trip to a worker and back cost ~1.2 ms of each request's latency, for ~5 µs
 * of work (bench/results/gpu, session 6).
 */
export class ShortTextsInline implements TextEncoder {
  constructor(
    private readonly inline: HfTokenizer,
    private readonly workers: TextEncoder,
    /** Most characters of a request tokenized here; 0: none. */
    private readonly maxChars: number,
  ) {}

  get maxLength(): number {
    return this.workers.maxLength;
  }

  async encode(texts: readonly string[], options: EncodeOptions): Promise<EncodedText[]> {
    let chars = 0;
    for (const t of texts) chars += t.length;
    if (chars > this.maxChars) return this.workers.encode(texts, options);
    const encoded: EncodedText[] = [];
    for (const t of texts) {
      const e = this.inline.encodeIfFast(t, options);
      if (!e) return this.workers.encode(texts, options);
      encoded.push(e);
    }
    return encoded;
  }

  tokenize(texts: readonly string[], options: EncodeOptions & { addSpecialTokens: boolean }): Promise<Token[][]> {
    return this.workers.tokenize(texts, options);
  }

  decode(ids: readonly number[][], skipSpecialTokens: boolean): Promise<string[]> {
    return this.workers.decode(ids, skipSpecialTokens);
  }

  close(): Promise<void> {
    return this.workers.close();
  }
}
