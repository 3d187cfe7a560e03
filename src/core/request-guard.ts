/**
 * What every facade (text, image) does around a request: admission with its observer, the
 * checks shared by all inputs, and draining. One place, so text and images cannot drift apart.
 */
import { CoalesceError, overLimit } from '../errors.js';
import type { Admission } from './admission.js';
import type { EmbedOutcome, InputQueue } from './types.js';
import type { Timings } from './types.js';
import type { CancelSignal } from './cancellation.js';
import { effectiveDeadline, withDeadline } from './deadline.js';
import { abortError } from './queue-entries.js';

/** Hooks for metrics; the core does not know how they are exported. */
export interface EmbedObserver {
  requestStarted(): void;
  requestFinished(ok: boolean, timings: Timings | null): void;
}

/** What a facade reads of a request around its work: cancellation, deadline, and whether it waits for admission. */
export interface RequestScope {
  signal?: CancelSignal;
  /** Epoch ms (Date.now()) by which the request must be answered; the server's --queue-timeout applies when sooner. */
  deadline?: number;
  /** Wait for a permit instead of being refused at --max-concurrent-requests (gRPC stream messages). */
  waitForPermit?: boolean;
}

export interface FacadeOptions {
  /** Default deadline of every request, in ms from its arrival (--queue-timeout); 0 or unset: none. */
  queueTimeoutMs?: number;
}

/**
 * The part of a facade that is the same for texts and images: readiness, admission (with its
 * observer), the depth of its batcher's queue, and draining.
 */
export abstract class GuardedFacade<I> {
  private ready = false;
  private readonly readyListeners = new Set<(ready: boolean) => void>();

  constructor(
    readonly admission: Admission,
    protected readonly batcher: InputQueue<I>,
    private readonly observer?: EmbedObserver,
    private readonly options: FacadeOptions = {},
  ) {}

  get isReady(): boolean {
    return this.ready;
  }

  markReady(ready: boolean): void {
    if (ready === this.ready) return;
    this.ready = ready;
    for (const listener of this.readyListeners) listener(ready);
  }

  /** Calls `listener` on every change of isReady (health watches); returns the unsubscribe. */
  onReadyChange(listener: (ready: boolean) => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  get queueDepth(): number {
    return this.batcher.queued;
  }

  /** Stops admitting and waits for everything admitted to finish: requests still tokenizing or decoding have not reached the batcher yet. */
  async drain(): Promise<void> {
    this.markReady(false);
    while (this.admission.inUse > 0) await new Promise((r) => setTimeout(r, 5));
    await this.batcher.drain();
  }

  /**
   * Runs `work` holding a permit; refuses at once when not ready or overloaded. With `timingsOf`
   * the observer sees the request (embeddings); without, it does not (tokenize, decode). With a
   * `scope`, `work` gets the request's signal with its deadline added: once the deadline passes
   * the request fails 'deadline' and its queued inputs are dropped.
   */
  protected async admitted<T>(
    work: (signal: CancelSignal | undefined) => Promise<T>,
    timingsOf?: (result: T) => Timings | null,
    scope?: RequestScope,
  ): Promise<T> {
    const observer = timingsOf ? this.observer : undefined;
    observer?.requestStarted();
    let release: (() => void) | null = null;
    const bounded = scope ? withDeadline(scope.signal, effectiveDeadline(scope.deadline, this.options.queueTimeoutMs)) : null;
    const signal = bounded ? bounded.signal : undefined;
    try {
      if (!this.ready) throw new CoalesceError('unhealthy', 'the model is not ready');
      release = scope?.waitForPermit ? await this.admission.acquireWhenFree(signal) : this.admission.acquire();
      const result = await work(signal);
      observer?.requestFinished(true, timingsOf!(result));
      return result;
    } catch (e) {
      observer?.requestFinished(false, null);
      // Work cut short by the deadline fails with it, whatever the interrupted step threw.
      throw signal?.aborted && e instanceof CoalesceError && e.kind === 'cancelled' ? abortError(signal) : e;
    } finally {
      release?.();
      bounded?.dispose();
    }
  }
}

export function checkInputCount(count: number, maxClientBatchSize: number): void {
  if (count === 0) throw new CoalesceError('empty', 'Input validation error: `inputs` cannot be empty');
  if (count > maxClientBatchSize) {
    throw overLimit(`Input validation error: \`inputs\` must have at most ${maxClientBatchSize} elements (--max-client-batch-size). Given: ${count}`, 'inputs');
  }
}

export function checkDimensions(dimensions: number | undefined, modelDimensions: number): void {
  if (dimensions !== undefined && (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > modelDimensions)) {
    throw overLimit(`Input validation error: \`dimensions\` must be an integer between 1 and ${modelDimensions}. Given: ${dimensions}`, 'dimensions');
  }
}

/** A request's queue and inference times: those of its slowest input. */
export function batchTimings(outcomes: readonly EmbedOutcome[]): { queueMs: number; inferenceMs: number } {
  return { queueMs: Math.max(...outcomes.map((o) => o.queueMs)), inferenceMs: Math.max(...outcomes.map((o) => o.inferenceMs)) };
}
