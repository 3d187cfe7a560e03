import { cancelled, CoalesceError, shuttingDown, toCoalesceError } from '../errors.js';
import { BatchCostModel, chooseCandidate } from './batch-cost.js';
import type { BatchResult, EncodedText } from './types.js';
import type { CancelSignal } from './cancellation.js';

/**
 * What the batcher needs from a backend, for any input type: text (EncodedText, the default)
 * or images (one CHW tensor each).
 */
export interface BatchBackend<I> {
  readonly maxConcurrentBatches: number;
  readonly info: { padded: boolean };
  embed(batch: { inputs: readonly I[] }): Promise<BatchResult>;
}

/** Cost of one input in budget units: its tokens for text, 1 for an image. */
export type InputSize<I> = (input: I) => number;

const tokenCount: InputSize<EncodedText> = (input) => input.ids.length;

export interface BatcherLimits {
  /**
   * Budget of one model call, in the units of the batcher's size function: tokens for text
   * (for padded backends the cost is longest input x batch size), images for images.
   */
  maxBatchTokens: number;
  /** Most inputs in one model call. */
  maxBatchRequests: number;
  /**
   * A batch takes another input only while useful tokens stay at least this share of the padded
   * tokens: a short input is better run in the next batch than padded to a long one.
   */
  minPaddingEfficiency?: number;
  /** Called after every model call, for metrics. */
  onBatch?: (batch: BatchStats) => void;
}

export interface BatchStats {
  /** Inputs in the call. */
  size: number;
  /** The call's cost in budget units (padded tokens for padded text backends). */
  units: number;
  /** The inputs' own size in those units (real tokens). */
  useful: number;
  /** From sending the batch to the backend to its answer. */
  inferenceMs: number;
  /** The backend's own share of inferenceMs, when it knows it (BatchResult.sessionMs). */
  sessionMs?: number;
}

export interface EmbedOutcome {
  vector: Float32Array;
  /** `vector` L2-normalized, when the backend computed it. */
  normalized?: Float32Array;
  /** From enqueue to the start of the model call that carried this input. */
  queueMs: number;
  /** Duration of that model call. */
  inferenceMs: number;
  /** Size of that batch, for metrics and tests. */
  batchSize: number;
}

interface Entry<I> {
  input: I;
  enqueuedAt: number;
  settled: boolean;
  resolve(outcome: EmbedOutcome): void;
  reject(error: Error): void;
}

/** How many queued inputs a batch is chosen from: enough to find similar lengths, cheap to sort. */
const WINDOW_PER_REQUEST = 4;
const MIN_WINDOW = 64;

/** The inputs of one model call, with its size in the budget's units (`units`) and the inputs' own (`useful`). */
interface ChosenBatch<I> {
  entries: Entry<I>[];
  useful: number;
  units: number;
}

/**
 * Coalesces queued inputs into model calls. There is no timer: a batch starts as soon as the
 * backend has room, and while it runs the queue fills, so batches grow by themselves under load
 * and stay small (low latency) when idle.
 */
export class Batcher<I = EncodedText> {
  private queue: Entry<I>[] = [];
  private inFlight = 0;
  private pumpScheduled = false;
  private closed = false;
  private readonly minEfficiency: number;
  private readonly size: InputSize<I>;
  /** Call time vs padded size, learned from the calls: picks batches for throughput. */
  private readonly costModel = new BatchCostModel();

  /** `size` defaults to the token count, for text; give it for other inputs (images: () => 1). */
  constructor(
    private readonly backend: BatchBackend<I>,
    private readonly limits: BatcherLimits,
    size?: InputSize<I>,
  ) {
    this.minEfficiency = limits.minPaddingEfficiency ?? 0.5;
    this.size = size ?? (tokenCount as unknown as InputSize<I>);
  }

  /** Inputs waiting for a model call. */
  get queued(): number {
    // Cancelled inputs stay in the array until the next batch is formed; they are not waiting.
    let live = 0;
    for (const e of this.queue) if (!e.settled) live++;
    return live;
  }

  get running(): number {
    return this.inFlight;
  }

  /**
   * Queues the inputs of one request; they may share batches with other requests' inputs. The
   * promise settles with one outcome per input, in order, or rejects with 'cancelled' as soon as
   * the signal aborts (the inputs still queued are then dropped before they reach the model).
   */
  submit(inputs: readonly I[], signal?: CancelSignal): Promise<EmbedOutcome[]> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (signal?.aborted) return Promise.reject(cancelled());
    if (inputs.length === 0) return Promise.resolve([]);
    const enqueuedAt = performance.now();
    // One promise per request, not per input: under single-text load the batcher's promises were
    // a measurable share of the main thread.
    return new Promise<EmbedOutcome[]>((resolve, reject) => {
      const outcomes = new Array<EmbedOutcome>(inputs.length);
      let waiting = inputs.length;
      let done = false;
      const entries: Entry<I>[] = [];
      const finish = (error: Error | null) => {
        done = true;
        signal?.removeEventListener('abort', onAbort);
        if (!error) return resolve(outcomes);
        // A failed input fails the request: settle its siblings so none of them still runs.
        for (const e of entries) e.settled = true;
        reject(error);
      };
      // One listener per request, not per input: a 32-input request must not trip MaxListeners.
      const onAbort = () => {
        if (!done) finish(cancelled());
      };
      inputs.forEach((input, i) =>
        entries.push({
          input,
          enqueuedAt,
          settled: false,
          resolve: (outcome) => {
            outcomes[i] = outcome;
            if (--waiting === 0 && !done) finish(null);
          },
          reject: (error) => {
            if (!done) finish(error);
          },
        }),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      for (const e of entries) this.queue.push(e);
      this.schedulePump();
    });
  }

  /** Stops taking inputs; resolves once everything admitted has run. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.inFlight > 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private settle(entry: Entry<I>, outcome: EmbedOutcome | Error): void {
    if (entry.settled) return;
    entry.settled = true;
    if (outcome instanceof Error) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  /** Deferred to the next macrotask so inputs arriving in the same event-loop turn share a batch. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.backend.maxConcurrentBatches) {
      const batch = this.nextBatch();
      if (!batch) return;
      this.inFlight++;
      void this.run(batch);
    }
  }

  private cost(count: number, longest: number, tokens: number): number {
    return this.backend.info.padded ? count * longest : tokens;
  }

  /**
   * Takes the oldest live input (so nothing starves) and grows the batch around it with the
   * inputs of nearest length from the front of the queue, within the token budget, the request
   * cap and the padding-efficiency floor; then keeps the step of that growth the learned cost
   * model expects to embed the most tokens per millisecond (the largest step, until it knows).
   */
  private nextBatch(): ChosenBatch<I> | null {
    this.queue = this.queue.filter((e) => !e.settled); // drop inputs whose client went away
    if (this.queue.length === 0) return null;
    const { maxBatchTokens, maxBatchRequests } = this.limits;
    const window = this.queue.slice(0, Math.max(MIN_WINDOW, maxBatchRequests * WINDOW_PER_REQUEST));
    // Each input's size once: the sort and the growth below read it many times.
    const sorted = window.map((e, age) => ({ e, age, n: this.size(e.input) })).sort((a, b) => a.n - b.n || a.age - b.age);
    const start = sorted.findIndex((s) => s.age === 0);

    let lo = start;
    let hi = start;
    let longest = sorted[start].n;
    let tokens = longest;
    // Every step of the growth is a candidate; the cost model picks one (the last, until it knows).
    const candidates = [{ lo, hi, useful: tokens, units: this.cost(1, longest, tokens) }];
    const fits = (count: number, newLongest: number, newTokens: number) =>
      this.cost(count, newLongest, newTokens) <= maxBatchTokens &&
      (!this.backend.info.padded || newTokens >= this.minEfficiency * count * newLongest);

    while (hi - lo + 1 < maxBatchRequests) {
      const count = hi - lo + 2;
      const shorter = lo > 0 ? sorted[lo - 1].n : -1;
      const longer = hi < sorted.length - 1 ? sorted[hi + 1].n : -1;
      // Padding a shorter input wastes (longest - its length); a longer one re-pads everyone.
      const shorterWaste = shorter >= 0 ? longest - shorter : Infinity;
      const longerWaste = longer >= 0 ? (longer - longest) * (count - 1) : Infinity;
      if (shorterWaste <= longerWaste && shorter >= 0 && fits(count, longest, tokens + shorter)) {
        lo--;
        tokens += shorter;
      } else if (longer >= 0 && fits(count, longer, tokens + longer)) {
        hi++;
        longest = longer;
        tokens += longer;
      } else if (shorter >= 0 && fits(count, longest, tokens + shorter)) {
        lo--;
        tokens += shorter;
      } else {
        break;
      }
      candidates.push({ lo, hi, useful: tokens, units: this.cost(hi - lo + 1, longest, tokens) });
    }

    const pick = candidates[chooseCandidate(candidates, this.costModel)];
    const chosen = new Set(sorted.slice(pick.lo, pick.hi + 1).map((s) => s.e));
    this.queue = this.queue.filter((e) => !chosen.has(e));
    return { entries: [...chosen], useful: pick.useful, units: pick.units };
  }

  private async run({ entries: batch, useful, units }: ChosenBatch<I>): Promise<void> {
    const started = performance.now();
    let result: BatchResult | CoalesceError;
    try {
      result = await this.backend.embed({ inputs: batch.map((e) => e.input) });
      if (result.vectors.length !== batch.length || (result.normalized && result.normalized.length !== batch.length)) {
        throw new CoalesceError('backend', `the backend returned ${result.vectors.length} vectors for ${batch.length} inputs`);
      }
    } catch (error) {
      result = toCoalesceError(error, 'backend');
    }
    const inferenceMs = performance.now() - started;
    // The backend has room again: hand it the next batch before answering this one's requests,
    // so it does not idle while this thread routes a whole batch of answers.
    this.inFlight--;
    this.pump();
    if (result instanceof Error) {
      for (const e of batch) this.settle(e, result);
      return;
    }
    const { vectors, normalized, sessionMs } = result;
    this.costModel.observe(units, inferenceMs);
    this.limits.onBatch?.({ size: batch.length, units, useful, inferenceMs, sessionMs });
    batch.forEach((e, i) =>
      this.settle(e, { vector: vectors[i], normalized: normalized?.[i], queueMs: started - e.enqueuedAt, inferenceMs, batchSize: batch.length }),
    );
  }
}
