import * as threads from 'node:worker_threads';

// Node 21+; older Nodes copy a marked buffer silently instead of throwing.
const isMarkedAsUntransferable = (threads as { isMarkedAsUntransferable?: (o: object) => boolean }).isMarkedAsUntransferable;

/**
 * The buffers of a transfer list that can move to another thread. Since Node 21, naming an
 * untransferable buffer (Node's Buffer pool, memory a native library owns) or a SharedArrayBuffer
 * in postMessage's transfer list throws; those are copied with the message instead.
 */
export function transferable(list: readonly ArrayBufferLike[]): ArrayBuffer[] {
  return list.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer && !isMarkedAsUntransferable?.(b));
}

/**
 * `bytes` when postMessage can transfer its buffer and nothing else with it, else a copy that can:
 * a view of part of a larger buffer would detach its neighbours, and an untransferable buffer
 * would be copied at every hop instead of once.
 */
export function transferableBytes(bytes: Uint8Array): Uint8Array {
  const buffer = bytes.buffer;
  const whole = buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength;
  if (whole && !isMarkedAsUntransferable?.(buffer)) return bytes;
  return new Uint8Array(bytes);
}
