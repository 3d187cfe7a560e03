import { isMarkedAsUntransferable } from 'node:worker_threads';

/**
 * The buffers of a transfer list that can move to another thread. Since Node 21, naming an
 * untransferable buffer (Node's Buffer pool, memory a native library owns) or a SharedArrayBuffer
 * in postMessage's transfer list throws; those are copied with the message instead.
 */
export function transferable(list: readonly ArrayBufferLike[]): ArrayBuffer[] {
  return list.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer && !isMarkedAsUntransferable(b));
}
