import * as threads from 'node:worker_threads';

// Node 21+; older Nodes copy a marked buffer silently instead of throwing.
const isMarkedAsUntransferable = (threads as { isMarkedAsUntransferable?: (o: object) => boolean }).isMarkedAsUntransferable;

/**
 * `bytes` when postMessage can transfer its buffer and nothing else with it, else a copy that can.
 * Node's Buffer pool and native buffers (sharp's output) are marked untransferable, and since
 * Node 21 transferring one throws "Cannot transfer object of unsupported type"; a view of part of
 * a larger buffer would detach its neighbours.
 */
export function transferableBytes(bytes: Uint8Array): Uint8Array {
  const buffer = bytes.buffer;
  const whole = buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength;
  if (whole && !isMarkedAsUntransferable?.(buffer)) return bytes;
  return new Uint8Array(bytes);
}
