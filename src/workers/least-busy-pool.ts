import type { Worker } from 'node:worker_threads';
import { CoalesceError } from '../errors.js';
import { transferable } from './transferable.js';
import { TurnOutbox } from './turn-outbox.js';

interface Slot {
  worker: Worker;
  busy: number;
  /** With batchPerTurn: this turn's messages for the thread and their buffers. */
  outbox: TurnOutbox<Record<string, unknown>>;
  /** With batchPerTurn: the weight of the calls in `outbox`. */
  gathered: number;
}

export interface PoolOptions {
  /**
   * Send each thread the calls of one event-loop turn as one array (the thread answers with one
   * array too), and keep a turn's calls together on one thread up to this much weight (see
   * `call`): under load, one message per turn each way instead of one per call, for the main
   * thread to take. 0: one message per thread per turn, calls spread over the threads.
   */
  batchPerTurn?: { gatherWeight: number };
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
  constructor(
    workers: Worker[],
    private readonly what: string,
    private readonly options: PoolOptions = {},
  ) {
    this.slots = workers.map((worker) => {
      const slot: Slot = {
        worker,
        busy: 0,
        gathered: 0,
        outbox: new TurnOutbox((messages, transfer) => {
          slot.gathered = 0;
          if (!this.failure) worker.postMessage(messages, transferable(transfer));
        }),
      };
      return slot;
    });
    for (const s of this.slots) {
      s.worker.on('message', (m: Reply | Reply[]) => {
        if (Array.isArray(m)) for (const r of m) this.onReply(r);
        else this.onReply(m);
      });
      s.worker.on('error', (e) => this.fail(new Error(`a ${what} worker failed: ${e.message}`)));
      s.worker.on('exit', (code) => this.fail(new Error(`a ${what} worker exited (code ${code})`)));
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Sends `message` with a fresh `id`, its buffers transferred; resolves with the reply of that id.
   * `weight` (e.g. texts) counts against batchPerTurn's gatherWeight.
   */
  call(message: Record<string, unknown>, transfer: ArrayBuffer[] = [], weight = 1): Promise<Reply> {
    if (this.failure) return Promise.reject(new CoalesceError('unhealthy', this.failure.message));
    const id = this.nextId++;
    const slot = this.pick(weight);
    slot.busy++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      if (!this.options.batchPerTurn) return slot.worker.postMessage({ ...message, id }, transferable(transfer));
      slot.gathered += weight;
      slot.outbox.push({ ...message, id }, transfer);
    });
  }

  /**
   * The thread already gathering this turn's calls while they stay within gatherWeight, so a
   * turn's small calls travel as one message and come back as one; else the least busy thread.
   * Spreading them instead gave every call a message of its own each way: the main thread took
   * one tokenizer answer per request under single-text load.
   */
  private pick(weight: number): Slot {
    const gather = this.options.batchPerTurn?.gatherWeight ?? 0;
    for (const s of this.slots) if (s.gathered > 0 && s.gathered + weight <= gather) return s;
    let slot = this.slots[0];
    for (const s of this.slots) if (s.busy < slot.busy) slot = s;
    return slot;
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
