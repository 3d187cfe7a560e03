/**
 * Open connections per HTTP thread, counted in one Int32Array over a SharedArrayBuffer that every
 * thread writes its own slot of. The threads share one listening socket and libuv accepts every
 * pending connection per wake-up, so connections opened together land unevenly: one of 4 threads
 * held 35-40 % of W2's 256 on an H100, and its requests waited 16.7 ms against 12.5 ms on the
 * others. A thread over its share closes connections after their answer (`Connection: close`);
 * those clients reconnect, and a less busy thread usually accepts first.
 */

/**
 * Whether the thread in `slot` should close one more connection: it holds, less the `closing`
 * ones it already asked to close, more than its even share plus one (the slack keeps uneven
 * counts that cannot be evened out, such as 5 connections over 4 threads, from churning).
 */
export function overShare(counts: Int32Array, slot: number, closing: number): boolean {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += Atomics.load(counts, i);
  return Atomics.load(counts, slot) - closing > Math.ceil(total / counts.length) + 1;
}
