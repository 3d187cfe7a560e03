import { Worker } from 'node:worker_threads';
import { CoalesceError } from '../errors.js';
import type { EncodedText, EncodeOptions, TextEncoder, Token } from '../core/types.js';

export interface TokenizerFiles {
  tokenizerPath: string;
  configPath: string | null;
  maxLength: number;
}

export type PoolRequest =
  | { id: number; op: 'encode'; texts: readonly string[]; options: EncodeOptions }
  | { id: number; op: 'tokenize'; texts: readonly string[]; options: EncodeOptions & { addSpecialTokens: boolean } }
  | { id: number; op: 'decode'; ids: readonly number[][]; skipSpecialTokens: boolean };
export type PoolResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

interface Slot {
  worker: Worker;
  busy: number;
  pending: Map<number, { resolve(v: unknown): void; reject(e: Error): void }>;
}

/**
 * Tokenizes in N worker threads (TEI runs one tokenizer per core). Each request goes to the
 * least busy worker; @huggingface/tokenizers is pure JS, so on the main thread a burst of long
 * texts would delay every socket read and write.
 */
export class TokenizerPool implements TextEncoder {
  private nextId = 1;

  private constructor(
    private readonly slots: Slot[],
    readonly maxLength: number,
  ) {}

  static async start(files: TokenizerFiles, size: number): Promise<TokenizerPool> {
    const slots = await Promise.all(
      Array.from({ length: size }, async () => {
        const worker = new Worker(new URL('./tokenizer-worker.js', import.meta.url), { workerData: files });
        const slot: Slot = { worker, busy: 0, pending: new Map() };
        await new Promise<void>((resolve, reject) => {
          const onFirst = (m: PoolResponse) => {
            if (m.id === 0) resolve();
          };
          worker.once('message', onFirst);
          worker.once('error', reject);
        });
        worker.on('message', (m: PoolResponse) => {
          const p = slot.pending.get(m.id);
          if (!p) return;
          slot.pending.delete(m.id);
          slot.busy--;
          if (m.ok) p.resolve(m.value);
          else p.reject(new CoalesceError('tokenizer', m.message));
        });
        worker.on('error', (e) => {
          for (const p of slot.pending.values()) p.reject(new CoalesceError('backend', `tokenizer worker failed: ${e.message}`));
          slot.pending.clear();
        });
        return slot;
      }),
    );
    return new TokenizerPool(slots, files.maxLength);
  }

  private call<T>(request: DistributiveOmit<PoolRequest, 'id'>): Promise<T> {
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    slot.busy++;
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.postMessage({ ...request, id });
    });
  }

  encode(texts: readonly string[], options: EncodeOptions): Promise<EncodedText[]> {
    return this.call({ op: 'encode', texts, options });
  }

  tokenize(texts: readonly string[], options: EncodeOptions & { addSpecialTokens: boolean }): Promise<Token[][]> {
    return this.call({ op: 'tokenize', texts, options });
  }

  decode(ids: readonly number[][], skipSpecialTokens: boolean): Promise<string[]> {
    return this.call({ op: 'decode', ids, skipSpecialTokens });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
