import { CoalesceError } from '../errors.js';
import type { CancelSignal } from './cancellation.js';
import { abortError } from './queue-entries.js';

/**
 * Admission control: at most `limit` requests in the server at once. Beyond it a request is
 * refused at once (429) rather than queued, so an overloaded server answers fast instead of hanging;
 * callers that asked to wait (gRPC stream messages) wait for a permit instead, bounded by their signal.
 */
export class Admission {
  private active = 0;
  private readonly waiters = new Set<() => void>();

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.active;
  }

  /** Callers waiting for a permit (acquireWhenFree). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Returns the release function; throws 'overloaded' when no permit is left. */
  acquire(): () => void {
    if (this.active >= this.limit) {
      throw new CoalesceError('overloaded', `model is overloaded: ${this.limit} requests already in progress (--max-concurrent-requests)`);
    }
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.wakeOne();
    };
  }

  /** Like acquire, but waits for a permit while `signal` has not aborted (then rejects with its reason). */
  async acquireWhenFree(signal?: CancelSignal): Promise<() => void> {
    while (this.active >= this.limit) {
      if (signal?.aborted) throw abortError(signal);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    if (signal?.aborted) throw abortError(signal);
    return this.acquire();
  }

  private wakeOne(): void {
    const [first] = this.waiters;
    first?.();
  }
}
