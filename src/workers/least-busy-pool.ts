import type { Worker } from 'node:worker_threads';
import { CoalesceError } from '../errors.js';

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * Worker threads of this process that answer messages by id: each call goes to the least busy
 * thread. When a thread dies, every call in flight fails and so does every later call, at once:
 * a call must never wait on a thread that will not answer.
 */
export class LeastBusyPool<Reply extends { id: number }> {
  private readonly slots: Slot[];
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void; slot: Slot }>();
  private nextId = 1;
  private failure: Error | null = null;

  /** `what` names the threads in errors ("model", "tokenizer", ...). */
  constructor(workers: Worker[], private readonly what: string) {
    this.slots = workers.map((worker) => ({ worker, busy: 0 }));
    for (const s of this.slots) {
      s.worker.on('message', (m: Reply) => this.onReply(m));
      s.worker.on('error', (e) => this.fail(new Error(`a ${what} worker failed: ${e.message}`)));
      s.worker.on('exit', (code) => this.fail(new Error(`a ${what} worker exited (code ${code})`)));
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** Sends `message` with a fresh `id`, its buffers transferred; resolves with the reply of that id. */
  call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(new CoalesceError('unhealthy', this.failure.message));
    const id = this.nextId++;
    let slot = this.slots[0];
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    slot.busy++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ ...message, id }, transfer);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error(`the ${this.what} workers are closed`);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.slot.busy--;
    p.resolve(m);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(new CoalesceError('unhealthy', error.message));
    this.pending.clear();
  }
}
