import { CoalesceError } from '../errors.js';
import type { CancelSignal } from './cancellation.js';
import { abortError } from './queue-entries.js';

/**
 * Admission control: at most `limit` requests in the server at once. Beyond it a request is
 * refused at once (429) rather than queued, so an overloaded server answers fast instead of hanging;
 * callers that asked to wait (gRPC stream messages) wait for a permit instead, bounded by their signal.
 * A model's own Admission may sit under the server's (`parent`): a request then needs a permit of
 * both, so one model never takes more than its limit of the shared --max-concurrent-requests.
 */
export class Admission {
  private active = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly limit: number,
    private readonly parent: Admission | null = null,
    /** Names the limit in the refusal: the flag or the model option that set it. */
    private readonly source = '--max-concurrent-requests',
  ) {}

  /** Requests holding a permit of this Admission (for a model's: that model's requests only). */
  get inUse(): number {
    return this.active;
  }

  /** Callers waiting for a permit (acquireWhenFree). */
  get waiting(): number {
    return this.waiters.size;
  }

  private get full(): boolean {
    return this.active >= this.limit || (this.parent?.full ?? false);
  }

  /** This Admission and the ones above it. */
  private *chain(): Generator<Admission> {
    for (let a: Admission | null = this; a; a = a.parent) yield a;
  }

  /** Returns the release function; throws 'overloaded' when no permit is left. */
  acquire(): () => void {
    if (this.active >= this.limit) {
      throw new CoalesceError('overloaded', `model is overloaded: ${this.limit} requests already in progress (${this.source})`);
    }
    const releaseParent = this.parent ? this.parent.acquire() : null;
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      releaseParent?.();
      this.wakeAll();
    };
  }

  /** Like acquire, but waits for a permit (of this Admission and those above it) while `signal` has not aborted. */
  async acquireWhenFree(signal?: CancelSignal): Promise<() => void> {
    while (this.full) {
      if (signal?.aborted) throw abortError(signal);
      await new Promise<void>((resolve) => {
        const wake = () => {
          for (const a of this.chain()) a.waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        for (const a of this.chain()) a.waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    if (signal?.aborted) throw abortError(signal);
    return this.acquire();
  }

  /** Every waiter checks again: a permit freed here (or above) may suit a waiter of another model. */
  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
