/**
 * Waiting on a condition instead of sleeping a fixed time: passes as soon as the condition
 * holds (fast on an idle machine), waits longer on a busy one, and fails with a message naming
 * what never happened instead of hanging.
 */
export interface WaitOptions {
  /** Fail after this long. Default 5000 ms. */
  timeoutMs?: number;
  /** Named in the error: what was awaited (a function: called at the timeout, to show the last state). */
  what?: string | (() => string);
  /** How often the predicate is checked. Default 2 ms; 0: every event-loop turn. */
  intervalMs?: number;
}

/** Resolves with the predicate's first truthy value; rejects when it stays falsy past the timeout. */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, what = 'the condition', intervalMs = 2 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`${typeof what === 'function' ? what() : what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => (intervalMs > 0 ? setTimeout(resolve, intervalMs) : setImmediate(resolve)));
  }
}

/** Fails the test instead of hanging when a promise never settles. */
export function within<T>(p: Promise<T>, ms = 5000, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}
