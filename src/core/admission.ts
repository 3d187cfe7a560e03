import { CoalesceError } from '../errors.js';

/**
 * Admission control: at most `limit` requests in the server at once. Beyond it a request is
 * refused at once (429) rather than queued, so an overloaded server answers fast instead of hanging.
 * A model's own Admission may sit under the server's (`parent`): a request then needs a permit of
 * both, so one model never takes more than its limit of the shared --max-concurrent-requests.
 */
export class Admission {
  private active = 0;

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
    };
  }
}
