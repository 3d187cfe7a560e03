import { Worker } from 'node:worker_threads';
import { CoalesceError } from '../../errors.js';

/** What every session worker (text or vision) answers to a batch. */
export type BatchReply = { type: 'result'; id: number; vectors: Float32Array; dimensions: number } | { type: 'failed'; id: number; message: string };

/** A load reply read as facts, a failure, or neither (not a load reply). */
export type LoadOutcome<F> = { facts: F } | { error: Error } | null;

/** Starts one session worker and waits until its model loaded, or failed to. */
export async function startSessionWorker<F>(script: URL, load: unknown, readLoad: (reply: unknown) => LoadOutcome<F>): Promise<{ worker: Worker; facts: F }> {
  const worker = new Worker(script);
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

/** Starts `count` workers; if any fails, stops the others and rethrows its error. */
export async function startAll<F>(count: number, start: () => Promise<{ worker: Worker; facts: F }>): Promise<{ worker: Worker; facts: F }[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, start));
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((w) => w.worker.terminate()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return ok;
}

interface Thread {
  worker: Worker;
  busy: number;
}

/**
 * The worker threads of this process that each own a session on the same device. A batch goes
 * to the least busy one; its flat [B, D] reply is split into one vector per input. When a thread
 * dies every call in flight fails, and later calls fail at once (the server turns unhealthy).
 */
export class SessionThreads {
  private readonly threads: Thread[];
  private readonly pending = new Map<number, { resolve(v: Float32Array[]): void; reject(e: Error): void; thread: Thread }>();
  private nextId = 1;
  private failure: Error | null = null;

  /** `what` names the sessions in errors ("model", "vision model"). */
  constructor(workers: Worker[], private readonly what: string) {
    this.threads = workers.map((worker) => ({ worker, busy: 0 }));
    for (const t of this.threads) {
      t.worker.on('message', (m: BatchReply) => this.onReply(m));
      t.worker.on('error', (e) => this.fail(e));
      t.worker.on('exit', (code) => this.fail(new Error(`a ${what} worker exited (code ${code})`)));
    }
  }

  get size(): number {
    return this.threads.length;
  }

  /** Sends `message` (given a fresh id) with its buffers transferred. */
  run(message: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<Float32Array[]> {
    if (this.failure) return Promise.reject(new CoalesceError('unhealthy', this.failure.message));
    const id = this.nextId++;
    let thread = this.threads[0];
    for (const t of this.threads) if (t.busy < thread.busy) thread = t;
    thread.busy++;
    return new Promise<Float32Array[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, thread });
      thread.worker.postMessage({ ...message, id }, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private onReply(m: BatchReply): void {
    if (m.type !== 'result' && m.type !== 'failed') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.thread.busy--;
    if (m.type === 'failed') {
      p.reject(new CoalesceError('backend', `${this.what} call failed: ${m.message}`));
      return;
    }
    const rows: Float32Array[] = [];
    for (let i = 0; i < m.vectors.length / m.dimensions; i++) rows.push(m.vectors.subarray(i * m.dimensions, (i + 1) * m.dimensions));
    p.resolve(rows);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(new CoalesceError('unhealthy', error.message));
    this.pending.clear();
  }
}
