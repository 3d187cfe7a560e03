import type { Worker } from 'node:worker_threads';
import { CoalesceError } from '../errors.js';
import { transferable } from './transferable.js';
import { TurnOutbox } from './turn-outbox.js';

interface Slot {
  worker: Worker;
  /** False from the thread's death until its replacement is loaded. */
  alive: boolean;
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
  /**
   * Starts a replacement for a thread that died. Without it, a death fails the pool; with it,
   * the dead thread's calls in flight fail with WorkerLost (their callers may send them again),
   * later calls wait for a live thread, and only a failed replacement fails the pool.
   */
  respawn?: () => Promise<Worker>;
  /** Called once when the pool fails for good (not at close). */
  onFail?: (error: Error) => void;
}

/** A call that was in flight on a thread that died: it may be sent again (to the replacement). */
export class WorkerLost extends CoalesceError {
  readonly workerLost = true;
}

export function isWorkerLost(e: unknown): e is WorkerLost {
  return typeof e === 'object' && e !== null && (e as { workerLost?: unknown }).workerLost === true;
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
  private closed = false;
  /** Calls made while no thread was alive, sent once one is. */
  private waiting: (() => void)[] = [];

  /** `what` names the threads in errors ("model", "tokenizer", ...). */
  constructor(
    workers: Worker[],
    private readonly what: string,
    private readonly options: PoolOptions = {},
  ) {
    this.slots = workers.map((worker) => {
      const slot: Slot = {
        worker,
        alive: true,
        busy: 0,
        gathered: 0,
        outbox: new TurnOutbox((messages, transfer) => {
          slot.gathered = 0;
          if (!this.failure && slot.alive) slot.worker.postMessage(messages, transferable(transfer));
        }),
      };
      return slot;
    });
    for (const s of this.slots) this.watch(s);
  }

  get size(): number {
    return this.slots.length;
  }

  /** No call in flight or waiting for a thread. */
  get idle(): boolean {
    return this.pending.size === 0 && this.waiting.length === 0;
  }

  /** The threads now (a replaced one is gone from here), for diagnostics and fault-injection tests. */
  get workers(): Worker[] {
    return this.slots.map((s) => s.worker);
  }

  private watch(slot: Slot): void {
    const worker = slot.worker;
    worker.on('message', (m: Reply | Reply[]) => {
      if (Array.isArray(m)) for (const r of m) this.onReply(r);
      else this.onReply(m);
    });
    worker.on('error', (e) => this.died(slot, worker, new Error(`a ${this.what} worker failed: ${e.message}`)));
    worker.on('exit', (code) => this.died(slot, worker, new Error(`a ${this.what} worker exited (code ${code})`)));
  }

  /** A thread's death: replaced when the pool can respawn, else the pool fails. Each thread dies once ('error' comes before 'exit'). */
  private died(slot: Slot, worker: Worker, error: Error): void {
    if (this.closed || this.failure || slot.worker !== worker || !slot.alive) return;
    const respawn = this.options.respawn;
    if (!respawn) {
      this.fail(error);
      return;
    }
    slot.alive = false;
    slot.busy = 0;
    slot.gathered = 0;
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      p.reject(new WorkerLost('unhealthy', error.message));
    }
    void worker.terminate();
    respawn().then(
      (replacement) => {
        if (this.closed || this.failure) return void replacement.terminate();
        slot.worker = replacement;
        slot.alive = true;
        this.watch(slot);
        const waiting = this.waiting;
        this.waiting = [];
        for (const send of waiting) send();
      },
      (e: Error) => this.fail(new Error(`${error.message}; its replacement failed to start: ${e.message}`)),
    );
  }

  /**
   * Sends `message` with a fresh `id`, its buffers transferred; resolves with the reply of that id.
   * `weight` (e.g. texts) counts against batchPerTurn's gatherWeight.
   */
  call(message: Record<string, unknown>, transfer: ArrayBuffer[] = [], weight = 1): Promise<Reply> {
    if (this.failure) return Promise.reject(new CoalesceError('unhealthy', this.failure.message));
    if (!this.slots.some((s) => s.alive)) {
      // Every thread is being replaced: send once one is back (or fail with the pool).
      return new Promise<Reply>((resolve, reject) => {
        this.waiting.push(() => this.call(message, transfer, weight).then(resolve, reject));
      });
    }
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
    for (const s of this.slots) if (s.alive && s.gathered > 0 && s.gathered + weight <= gather) return s;
    let slot: Slot | null = null;
    for (const s of this.slots) if (s.alive && (!slot || s.busy < slot.busy)) slot = s;
    return slot!;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failure ??= new Error(`the ${this.what} workers are closed`);
    this.flushWaiting();
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
    this.flushWaiting();
    this.options.onFail?.(error);
  }

  /** Calls waiting for a live thread: sent now, they fail with the pool's failure. */
  private flushWaiting(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const send of waiting) send();
  }
}
