/** The inputs of one request as entries of a queue, settled one by one and answered together. */
import { cancelled, isCoalesceError, shuttingDown, type CoalesceError } from '../errors.js';
import type { CancelSignal } from './cancellation.js';
import type { EmbedOutcome } from './types.js';

export interface Entry<I> {
  input: I;
  enqueuedAt: number;
  /** Answered, failed, or its request failed or was cancelled: it must not run any more. */
  settled: boolean;
  resolve(outcome: EmbedOutcome): void;
  reject(error: Error): void;
}

export function settle<I>(entry: Entry<I>, outcome: EmbedOutcome | Error): void {
  if (entry.settled) return;
  entry.settled = true;
  if (outcome instanceof Error) entry.reject(outcome);
  else entry.resolve(outcome);
}

/**
 * Makes one entry per input and hands them to `enqueue`; the promise resolves with every
 * outcome once all are settled, or rejects with the first failure or with 'cancelled' when
 * the signal aborts. Then every entry is settled, so none still runs, and `dropped` gets them
 * (a queue that must take them back out, not merely skip them).
 */
export function enqueueRequest<I>(
  inputs: readonly I[],
  signal: CancelSignal | undefined,
  closed: boolean,
  enqueue: (entries: Entry<I>[]) => void,
  dropped?: (entries: Entry<I>[]) => void,
): Promise<EmbedOutcome[]> {
  if (closed) return Promise.reject(shuttingDown());
  if (signal?.aborted) return Promise.reject(abortError(signal));
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
      dropped?.(entries);
      reject(error);
    };
    // One listener per request, not per input: a 32-input request must not trip MaxListeners.
    const onAbort = () => {
      if (!done) finish(abortError(signal!));
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
    enqueue(entries);
  });
}

/** What an aborted request is answered with: the signal's own reason when it is one of ours (a deadline), else 'cancelled'. */
export function abortError(signal: CancelSignal): CoalesceError {
  return isCoalesceError(signal.reason) ? signal.reason : cancelled();
}
