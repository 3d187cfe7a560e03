import { CoalesceError, toCoalesceError } from '../errors.js';
import { BatchCostModel } from './batch-cost.js';
import { chooseBatch, choiceWindow, type BatchBudget } from './batch-choice.js';
import type { BatchResult, EmbedOutcome, EncodedText, InputQueue } from './types.js';
import type { CancelSignal } from './cancellation.js';
import { enqueueRequest, settle, type Entry } from './queue-entries.js';
import { isOutOfMemory } from './out-of-memory.js';

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
  /** The clock model calls are timed by (the cost model learns from it). Default: performance.now. */
  now?: () => number;
}

/** The budget of one model call that `limits` give (the padding floor defaults to a half). */
export function budgetOf(limits: BatcherLimits, padded: boolean): BatchBudget {
  return { maxBatchTokens: limits.maxBatchTokens, maxBatchRequests: limits.maxBatchRequests, minEfficiency: limits.minPaddingEfficiency ?? 0.5, padded };
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
export class Batcher<I = EncodedText> implements InputQueue<I> {
  private queue: Entry<I>[] = [];
  private inFlight = 0;
  private pumpScheduled = false;
  private closed = false;
  private readonly budget: BatchBudget;
  private readonly size: InputSize<I>;
  /** Call time vs padded size, learned from the calls: picks batches for throughput. */
  private readonly costModel = new BatchCostModel();

  /** `size` defaults to the token count, for text; give it for other inputs (images: () => 1). */
  constructor(
    private readonly backend: BatchBackend<I>,
    private readonly limits: BatcherLimits,
    size?: InputSize<I>,
  ) {
    this.budget = budgetOf(limits, backend.info.padded);
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

  submit(inputs: readonly I[], signal?: CancelSignal): Promise<EmbedOutcome[]> {
    return enqueueRequest(inputs, signal, this.closed, (entries) => {
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

  /** The next model call from the queue (see chooseBatch), or null when nothing is queued. */
  private nextBatch(): ChosenBatch<I> | null {
    this.queue = this.queue.filter((e) => !e.settled); // drop inputs whose client went away
    const window = this.queue.slice(0, choiceWindow(this.limits));
    const choice = chooseBatch(
      window.map((e) => this.size(e.input)),
      this.budget,
      this.costModel,
    );
    if (!choice) return null;
    const chosen = new Set(choice.picked.map((i) => window[i]));
    this.queue = this.queue.filter((e) => !chosen.has(e));
    return { entries: [...chosen], useful: choice.useful, units: choice.units };
  }

  /**
   * One model call; when it runs out of memory, the two halves of the batch are run one after the
   * other instead (each split again as needed), so only an input too big on its own fails.
   */
  private async embedSplitting(inputs: I[]): Promise<BatchResult> {
    try {
      return await this.backend.embed({ inputs });
    } catch (error) {
      if (inputs.length < 2 || !isOutOfMemory(error)) throw error;
      const half = Math.ceil(inputs.length / 2);
      const first = await this.embedSplitting(inputs.slice(0, half));
      const second = await this.embedSplitting(inputs.slice(half));
      return {
        vectors: [...first.vectors, ...second.vectors],
        normalized: first.normalized && second.normalized ? [...first.normalized, ...second.normalized] : undefined,
        sessionMs: first.sessionMs !== undefined && second.sessionMs !== undefined ? first.sessionMs + second.sessionMs : undefined,
      };
    }
  }

  private async run({ entries: batch, useful, units }: ChosenBatch<I>): Promise<void> {
    const now = this.limits.now ?? (() => performance.now());
    const started = now();
    let result: BatchResult | CoalesceError;
    try {
      result = await this.embedSplitting(batch.map((e) => e.input));
      if (result.vectors.length !== batch.length || (result.normalized && result.normalized.length !== batch.length)) {
        throw new CoalesceError('backend', `the backend returned ${result.vectors.length} vectors for ${batch.length} inputs`);
      }
    } catch (error) {
      result = toCoalesceError(error, 'backend');
    }
    const inferenceMs = now() - started;
    // The backend has room again: hand it the next batch before answering this one's requests,
    // so it does not idle while this thread routes a whole batch of answers.
    this.inFlight--;
    this.pump();
    if (result instanceof Error) {
      for (const e of batch) settle(e, result);
      return;
    }
    const { vectors, normalized, sessionMs } = result;
    this.costModel.observe(units, inferenceMs);
    this.limits.onBatch?.({ size: batch.length, units, useful, inferenceMs, sessionMs });
    batch.forEach((e, i) =>
      settle(e, { vector: vectors[i], normalized: normalized?.[i], queueMs: started - e.enqueuedAt, inferenceMs, batchSize: batch.length }),
    );
  }
}
