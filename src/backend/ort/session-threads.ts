import { Worker } from 'node:worker_threads';
import { CoalesceError } from '../../errors.js';
import type { BatchResult } from '../../core/types.js';
import { LeastBusyPool, type PoolOptions } from '../../workers/least-busy-pool.js';
import type { ThreadName } from '../../workers/start-workers.js';

/**
 * What every session worker (text or vision) answers to a batch: flat [B, D] vectors, raw and
 * L2-normalized, and how long the thread worked on it.
 */
export type BatchReply =
  | { type: 'result'; id: number; vectors: Float32Array; normalized?: Float32Array; offsets?: Uint32Array; dimensions: number; sessionMs: number }
  | { type: 'failed'; id: number; message: string };

function splitRows(flat: Float32Array, width: number): Float32Array[] {
  const rows: Float32Array[] = [];
  for (let at = 0; at < flat.length; at += width) rows.push(flat.subarray(at, at + width));
  return rows;
}

function splitAt(flat: Float32Array, offsets: Uint32Array): Float32Array[] {
  const rows: Float32Array[] = [];
  for (let i = 0; i + 1 < offsets.length; i++) rows.push(flat.subarray(offsets[i], offsets[i + 1]));
  return rows;
}

/** A load reply read as facts, a failure, or neither (not a load reply). */
export type LoadOutcome<F> = { facts: F } | { error: Error } | null;

/** Starts one session worker and waits until its model loaded, or failed to. */
export async function startSessionWorker<F>(
  script: URL,
  name: ThreadName,
  load: unknown,
  readLoad: (reply: unknown) => LoadOutcome<F>,
): Promise<{ worker: Worker; facts: F }> {
  const worker = new Worker(script, { name });
  let onMessage: (m: unknown) => void = () => {};
  let onError: (e: Error) => void = () => {};
  try {
    const facts = await new Promise<F>((resolve, reject) => {
      onMessage = (m) => {
        const outcome = readLoad(m);
        if (outcome && 'facts' in outcome) resolve(outcome.facts);
        else if (outcome) reject(outcome.error);
      };
      onError = reject;
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage(load);
    });
    return { worker, facts };
  } catch (e) {
    await worker.terminate();
    throw e;
  } finally {
    // Only our own listeners: removeAllListeners() would also drop the Worker's internal ones.
    worker.off('message', onMessage);
    worker.off('error', onError);
  }
}

/**
 * The worker threads of this process that each own a session on the same device. A batch goes
 * to the least busy one; its flat [B, D] reply is split into one vector per input.
 */
export class SessionThreads {
  private readonly pool: LeastBusyPool<BatchReply>;

  /** `what` names the sessions in errors ("model", "vision model"). */
  constructor(
    workers: Worker[],
    private readonly what: string,
    options: Pick<PoolOptions, 'respawn' | 'onFail'> = {},
  ) {
    this.pool = new LeastBusyPool<BatchReply>(workers, what, options);
  }

  get size(): number {
    return this.pool.size;
  }

  /** The session threads now (replacements included). */
  get workers(): Worker[] {
    return this.pool.workers;
  }

  /** Sends `message` with its buffers transferred. */
  async run(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<BatchResult> {
    const m = await this.pool.call(message, transfer);
    if (m.type === 'failed') throw new CoalesceError('backend', `${this.what} call failed: ${m.message}`);
    if (m.offsets) return { vectors: splitAt(m.vectors, m.offsets), sessionMs: m.sessionMs };
    return { vectors: splitRows(m.vectors, m.dimensions), normalized: m.normalized && splitRows(m.normalized, m.dimensions), sessionMs: m.sessionMs };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
