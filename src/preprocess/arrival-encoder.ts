/**
 * Encoding where a request arrives: an HTTP thread encodes plain ASCII text for a BERT tokenizer
 * itself (the fast path, bert-fast-path.ts) and sends the facade token ids, which then skips its
 * tokenizer workers. Under one-text-per-request load that hop (main thread -> tokenizer worker ->
 * main thread) was ~1.5 ms of a ~12 ms request, for ~20 µs of tokenizing (H100).
 * Any text the fast path declines, or that does not fit the model as it is (so truncation options
 * would matter), leaves the whole request to the facade's encoder, as before.
 */
import { MAX_CHARS_PER_TOKEN } from '../core/embedder.js';
import type { EncodedText } from '../core/types.js';
import type { TokenizerFiles } from './tokenizer-pool.js';
import { readTokenizerFiles, type SpecialIds } from './tokenizer.js';
import { BertFastPath, withSpecialIds } from './bert-fast-path.js';

/** What an HTTP thread needs to build its encoder: the tokenizer's files and the ids its post-processor puts around a text. */
export type ArrivalEncoderSpec = TokenizerFiles & SpecialIds;

export class ArrivalEncoder {
  private constructor(
    private readonly fast: BertFastPath,
    private readonly spec: ArrivalEncoderSpec,
  ) {}

  /** Null when the tokenizer has no fast path. */
  static fromSpec(spec: ArrivalEncoderSpec): ArrivalEncoder | null {
    const { json, config } = readTokenizerFiles(spec.tokenizerPath, spec.configPath);
    const fast = BertFastPath.from(json, config);
    return fast ? new ArrivalEncoder(fast, spec) : null;
  }

  /** Every text encoded as the facade's encoder would encode it, or null when one of them must go to it. */
  encodeAll(texts: readonly string[]): EncodedText[] | null {
    const { before, after, maxLength } = this.spec;
    const room = maxLength - before.length - after.length;
    const out: EncodedText[] = [];
    for (const text of texts) {
      // Over the facade's character bound: it refuses or cuts such a text without tokenizing all of it.
      if (text.length > maxLength * MAX_CHARS_PER_TOKEN) return null;
      const pieces = this.fast.ids(text);
      if (!pieces || pieces.length > room) return null;
      out.push({ ids: withSpecialIds(pieces, 0, pieces.length, before, after) });
    }
    return out;
  }
}
