/**
 * What the core reads of a "the client went away" signal. AbortSignal has it, and so does
 * CallCancellation: a Node AbortController with one listener cost ~9 µs per call, about a tenth
 * of the main thread's time per single-text request under load on a GPU.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  /** Why it aborted, when it says (a CoalesceError such as 'deadline' is answered as it is). */
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A plain-object CancelSignal for calls that arrive in messages: cancelled by a later message. */
export class CallCancellation implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] = [];

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners.indexOf(listener);
    if (at >= 0) this.listeners.splice(at, 1);
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }
}

/** An AbortSignal that follows `signal`, for APIs that take nothing else (fetch). */
export function toAbortSignal(signal: CancelSignal): AbortSignal {
  if (signal instanceof AbortSignal) return signal;
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener('abort', () => controller.abort(), { once: true });
  return controller.signal;
}
