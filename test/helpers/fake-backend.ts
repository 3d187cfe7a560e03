import type { Backend, Batch, BatchResult, EncodedText, ModelInfo, TextEncoder } from '../../src/core/types.js';

/** A backend that records every batch and answers with a vector derived from the ids, after an optional delay. */
export class FakeBackend implements Backend {
  readonly batches: number[][][] = [];
  maxConcurrentBatches = 1;
  delayMs = 0;
  failNext: Error | null = null;
  /** Resolves the next model call only when released, to hold batches open in tests. */
  gate: Promise<void> | null = null;
  /** Also answer "normalized" rows, as the ORT backend does: [-1, -1, -1, -1], so tests can tell which one a request got. */
  markedNormalized = false;
  /** Reported as BatchResult.sessionMs when set. */
  sessionMs: number | undefined = undefined;
  readonly info: ModelInfo = {
    id: 'fake',
    dimensions: 4,
    maxInputLength: 512,
    padded: true,
    pooling: 'mean',
    normalizedByModel: false,
    device: 'cpu',
    provider: 'fake',
    onnxFile: 'none',
    inputNames: ['input_ids'],
    outputName: 'out',
    outputKind: 'pooled',
    kind: 'embedding',
    labels: null,
    problemType: 'single_label_classification',
  };

  /** Holds the model calls that start from now on (see `gate`) until the returned function is called. */
  hold(): () => void {
    let open!: () => void;
    this.gate = new Promise<void>((r) => (open = r));
    return () => {
      this.gate = null;
      open();
    };
  }

  async embed(batch: Batch): Promise<BatchResult> {
    this.batches.push(batch.inputs.map((i) => [...i.ids]));
    if (this.gate) await this.gate;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = null;
      throw e;
    }
    const vectors = batch.inputs.map((i) => Float32Array.from([i.ids.length, i.ids[0] ?? 0, 1, 0]));
    const normalized = this.markedNormalized ? vectors.map(() => Float32Array.from([-1, -1, -1, -1])) : undefined;
    return { vectors, normalized, sessionMs: this.sessionMs };
  }

  async close(): Promise<void> {}
}

export const ids = (n: number, first = 7) => ({ ids: Uint32Array.from({ length: n }, (_, i) => (i === 0 ? first : 1)) });

export { within } from './wait-for.js';

/** One token per character, so the model's inputs read back as the texts sent; a pair is its texts joined by a 0 token. */
export const charEncoder: TextEncoder = {
  maxLength: 512,
  encode: async (texts) => texts.map((t): EncodedText => ({ ids: Uint32Array.from(t, (c) => c.charCodeAt(0)) })),
  encodePairs: async (pairs) =>
    pairs.map(([a, b]): EncodedText => {
      const ids = Uint32Array.from(`${a}\u0000${b}`, (c) => c.charCodeAt(0));
      return { ids, typeIds: Uint8Array.from(ids, (_, i) => (i > a.length ? 1 : 0)) };
    }),
  tokenize: async () => [],
  decode: async () => [],
  close: async () => {},
};
