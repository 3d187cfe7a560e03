/**
 * Per-request deadlines (TEI and Triton's queue policy): a request still unanswered when its
 * deadline passes is answered 'deadline' at once, and its inputs still queued are dropped before
 * they reach the model, as a cancelled request's are. The deadline travels as epoch
 * milliseconds (Date.now()), the one clock every thread of the process shares.
 */
import { CoalesceError } from '../errors.js';
import { CallCancellation, type CancelSignal } from './cancellation.js';

export const deadlinePassed = () => new CoalesceError('deadline', 'the request deadline passed before it was answered');

/** The earliest of the request's own deadline and now + the server's default (0 or unset: none); undefined when neither. */
export function effectiveDeadline(requested: number | undefined, defaultMs: number | undefined, now = Date.now()): number | undefined {
  const byDefault = defaultMs && defaultMs > 0 ? now + defaultMs : undefined;
  if (requested === undefined) return byDefault;
  return byDefault === undefined ? requested : Math.min(requested, byDefault);
}

export interface DeadlineScope {
  /** Aborts when `parent` does (with its reason) or when the deadline passes (with 'deadline'). */
  readonly signal: CancelSignal | undefined;
  /** Stops the timer and the parent listener once the request is answered. */
  dispose(): void;
}

/** `parent` with `deadline` (epoch ms) added; without a deadline, `parent` as it is. */
export function withDeadline(parent: CancelSignal | undefined, deadline: number | undefined): DeadlineScope {
  if (deadline === undefined) return { signal: parent, dispose: () => {} };
  const signal = new CallCancellation();
  const onParent = () => signal.abort(parent!.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  const remaining = deadline - Date.now();
  let timer: NodeJS.Timeout | undefined;
  if (remaining <= 0) signal.abort(deadlinePassed());
  // setTimeout's limit is 2^31-1 ms; a deadline further out than ~24 days is as good as none.
  else if (remaining < 2 ** 31) timer = setTimeout(() => signal.abort(deadlinePassed()), remaining);
  return {
    signal,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}
