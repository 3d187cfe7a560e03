import { CoalesceError } from '../errors.js';

/**
 * Admission control: at most `limit` requests in the server at once. Beyond it a request is
 * refused at once (429) rather than queued, so an overloaded server answers fast instead of hanging.
 */
export class Admission {
  private active = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.active;
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
    };
  }
}
