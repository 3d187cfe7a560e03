import type { EncodedText, EncodeOptions, TextEncoder, TextPair, Token } from '../core/types.js';
import { LeastBusyPool } from '../workers/least-busy-pool.js';
import { startReadyWorkers } from '../workers/start-workers.js';
import { tokenizerError, type SpecialIds } from './tokenizer.js';
import { ArrivalEncoder } from './arrival-encoder.js';

export interface TokenizerFiles {
  tokenizerPath: string;
  configPath: string | null;
  maxLength: number;
}

export type PoolRequest =
  | { id: number; op: 'encode'; texts: readonly string[]; options: EncodeOptions }
  | { id: number; op: 'encode-pairs'; pairs: readonly TextPair[]; options: EncodeOptions }
  | { id: number; op: 'tokenize'; texts: readonly string[]; options: EncodeOptions & { addSpecialTokens: boolean } }
  | { id: number; op: 'decode'; ids: readonly number[][]; skipSpecialTokens: boolean };
export type PoolResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

/**
 * Texts of one event-loop turn that go to one worker together, one message each way. H100 W2
 * (single texts, 256 clients), alternating with spreading every call: 16 or 6 texts +4 % tokens/s,
 * main thread 0.61 -> 0.57 core; 64 texts -3 %, each turn's texts waiting on one worker
 * A turn of 32-text requests still spreads out.
 */
const GATHER_TEXTS = 16;

/**
 * A lone request of at most this many texts, each of at most LONE_CHARS characters, is encoded
 * on the calling thread when no tokenizer call is in flight: the round trip to a worker costs
 * more than tokenizing a short ASCII text with the BERT fast path (~20 µs for 512 characters),
 * and one client waiting on one text is exactly the latency case. One such request per event-loop
 * turn: a burst of arrivals, like load, goes to the workers.
 */
const LONE_TEXTS = 4;
const LONE_CHARS = 512;

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/**
 * Tokenizes in N worker threads (TEI runs one tokenizer per core). Each request goes to the
 * least busy worker; @huggingface/tokenizers is pure JS, so on the main thread a burst of long
 * texts would delay every socket read and write.
 */
export class TokenizerPool implements TextEncoder {
  private constructor(
    private readonly pool: LeastBusyPool<PoolResponse>,
    readonly maxLength: number,
    private readonly special: SpecialIds | null,
    readonly vocabSize: number,
    /** The BERT fast path on this thread, for lone short requests; null when the tokenizer has none. */
    private readonly lone: ArrivalEncoder | null,
  ) {}

  /** Texts encoded on the calling thread, because the pool was idle and they were short. */
  encodedInline = 0;
  private inlineThisTurn = false;

  static async start(files: TokenizerFiles, size: number): Promise<TokenizerPool> {
    // Each worker says ready (id 0) once its tokenizer is loaded, with its HfTokenizer.specialIds().
    const started = await startReadyWorkers(size, new URL('./tokenizer-worker.js', import.meta.url), files, 'tokenizer');
    const pool = new LeastBusyPool<PoolResponse>(
      started.map((s) => s.worker),
      'tokenizer',
      { batchPerTurn: { gatherWeight: GATHER_TEXTS } },
    );
    const ready = started[0].ready as { value: SpecialIds | null; vocabSize: number };
    const lone = ready.value ? ArrivalEncoder.fromSpec({ ...files, ...ready.value }) : null;
    return new TokenizerPool(pool, files.maxLength, ready.value, ready.vocabSize, lone);
  }

  /** HfTokenizer.specialIds() of the workers' tokenizer. */
  specialIds(): SpecialIds | null {
    return this.special;
  }

  private async call<T>(request: DistributiveOmit<PoolRequest, 'id'>): Promise<T> {
    const m = await this.pool.call(
      request,
      [],
      request.op === 'decode' ? request.ids.length : request.op === 'encode-pairs' ? request.pairs.length * 2 : request.texts.length,
    );
    if (!m.ok) throw tokenizerError(new Error(m.message));
    return m.value as T;
  }

  encode(texts: readonly string[], options: EncodeOptions): Promise<EncodedText[]> {
    if (this.lone && !this.inlineThisTurn && this.pool.idle && texts.length <= LONE_TEXTS && texts.every((t) => t.length <= LONE_CHARS)) {
      // Declined (non-ASCII, added tokens, too long for the model): the workers encode it as always.
      const encoded = this.lone.encodeAll(texts);
      if (encoded) {
        this.encodedInline += texts.length;
        this.inlineThisTurn = true;
        setImmediate(() => (this.inlineThisTurn = false));
        return Promise.resolve(encoded);
      }
    }
    return this.call({ op: 'encode', texts, options });
  }

  encodePairs(pairs: readonly TextPair[], options: EncodeOptions): Promise<EncodedText[]> {
    return this.call({ op: 'encode-pairs', pairs, options });
  }

  tokenize(texts: readonly string[], options: EncodeOptions & { addSpecialTokens: boolean }): Promise<Token[][]> {
    return this.call({ op: 'tokenize', texts, options });
  }

  decode(ids: readonly number[][], skipSpecialTokens: boolean): Promise<string[]> {
    return this.call({ op: 'decode', ids, skipSpecialTokens });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
