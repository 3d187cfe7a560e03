/** The main thread's side of the shared text queue (layout.ts): admitting inputs and routing answers. */
import { CoalesceError, overLimit } from '../../errors.js';
import { budgetOf, type BatcherLimits } from '../batcher.js';
import type { CancelSignal } from '../cancellation.js';
import { enqueueRequest, settle, type Entry } from '../queue-entries.js';
import type { EmbedOutcome, EncodedText, InputQueue } from '../types.js';
import { createBuffers, FREE, PUBLISHED, QUEUED, slotsFor, ticketOf, viewsOf, type SharedQueueViews } from './layout.js';
import type { SharedQueuePort, TakenAnswer, TakeOrder } from './port.js';

const now = () => performance.timeOrigin + performance.now();

/**
 * Text inputs queued in shared memory, from which the session threads take their batches
 * themselves. Inputs beyond the slots wait here, in order, until answers free slots.
 */
export class SharedTextQueue implements InputQueue<EncodedText>, SharedQueuePort {
  readonly order: TakeOrder;
  private readonly q: SharedQueueViews;
  private readonly entries: (Entry<EncodedText> | undefined)[];
  /** This thread's copy of each slot's ticket, to cancel exactly the input it wrote. */
  private readonly tickets: Int32Array;
  private readonly free: number[] = [];
  private readonly waiting: Entry<EncodedText>[] = [];
  private admitted = 0;
  private closed = false;
  private failure: CoalesceError | null = null;

  /** `slotTokens`: the model's max input length. */
  constructor(
    slotTokens: number,
    padded: boolean,
    private readonly limits: BatcherLimits,
    slots = slotsFor(slotTokens),
  ) {
    const buffers = createBuffers(slots, slotTokens);
    this.order = { type: 'take', buffers, budget: budgetOf(limits, padded) };
    this.q = viewsOf(buffers);
    this.entries = new Array(slots);
    this.tickets = new Int32Array(slots);
    for (let s = slots - 1; s >= 0; s--) this.free.push(s);
  }

  get queued(): number {
    let waiting = 0;
    for (const e of this.waiting) if (!e.settled) waiting++;
    return Atomics.load(this.q.control, QUEUED) + waiting;
  }

  submit(inputs: readonly EncodedText[], signal?: CancelSignal): Promise<EmbedOutcome[]> {
    if (this.failure) return Promise.reject(this.failure);
    const tooLong = inputs.findIndex((input) => input.ids.length > this.q.slotTokens);
    if (tooLong >= 0)
      return Promise.reject(
        overLimit(`Input validation error: \`inputs[${tooLong}]\` has ${inputs[tooLong].ids.length} tokens, over the model's ${this.q.slotTokens}`, 'inputs'),
      );
    return enqueueRequest(
      inputs,
      signal,
      this.closed,
      (entries) => {
        for (const e of entries) {
          if (this.free.length > 0) this.write(this.free.pop()!, e);
          else this.waiting.push(e);
        }
        this.publish();
      },
      () => this.reclaimSettled(),
    );
  }

  async drain(): Promise<void> {
    this.closed = true;
    while (this.free.length < this.q.slots || this.waiting.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** A session thread's answer: settles its inputs and frees their slots for inputs waiting here. */
  answer(m: TakenAnswer): void {
    const answered: [Entry<EncodedText>, EmbedOutcome | Error][] = [];
    const inferenceMs = m.type === 'taken' ? now() - m.startedAt : 0;
    const failed = m.type === 'taken-failed' ? new CoalesceError('backend', `model call failed: ${m.message}`) : null;
    m.slots.forEach((slot, i) => {
      const entry = this.release(slot);
      if (!entry) return;
      if (m.type === 'taken-failed') return answered.push([entry, failed!]);
      const row = (flat: Float32Array) => flat.subarray(i * m.dimensions, (i + 1) * m.dimensions);
      answered.push([
        entry,
        {
          vector: row(m.vectors),
          normalized: row(m.normalized),
          queueMs: Math.max(0, m.startedAt - performance.timeOrigin - entry.enqueuedAt),
          inferenceMs,
          batchSize: m.slots.length,
        },
      ]);
    });
    // Slots first, answers after: inputs waiting here reach the sessions before this thread routes a batch of answers.
    this.refill();
    for (const [entry, outcome] of answered) settle(entry, outcome);
    if (m.type === 'taken') this.limits.onBatch?.({ size: m.slots.length, units: m.units, useful: m.useful, inferenceMs, sessionMs: m.sessionMs });
  }

  /** The sessions cannot answer any more (a thread died): every input fails now, and every later one. */
  fail(error: Error): void {
    this.failure ??= new CoalesceError('unhealthy', error.message);
    for (let slot = 0; slot < this.q.slots; slot++) if (this.entries[slot]) settle(this.release(slot)!, this.failure);
    for (const entry of this.waiting) settle(entry, this.failure);
    this.waiting.length = 0;
  }

  private write(slot: number, entry: Entry<EncodedText>): void {
    const { ids, typeIds } = entry.input;
    const at = slot * this.q.slotTokens;
    this.q.ids.set(ids, at);
    if (typeIds) this.q.typeIds.set(typeIds, at);
    else this.q.typeIds.fill(0, at, at + ids.length);
    this.q.lengths[slot] = ids.length;
    this.q.order[slot] = this.admitted;
    this.entries[slot] = entry;
    // Counted before it is published, so the count never falls below the slots a session can
    // take; the ticket goes in last: a session thread that sees it sees everything written before it.
    Atomics.add(this.q.control, QUEUED, 1);
    this.tickets[slot] = ticketOf(this.admitted++);
    Atomics.store(this.q.state, slot, this.tickets[slot]);
  }

  /** Wakes the session threads waiting for inputs. */
  private publish(): void {
    Atomics.add(this.q.control, PUBLISHED, 1);
    Atomics.notify(this.q.control, PUBLISHED);
  }

  /**
   * Takes back the slots of settled inputs (a failed or cancelled request's) that no session has
   * taken yet. A scan of the slots, rather than a map from entry to slot kept for every input:
   * it costs only when a request ends early, not on every request.
   */
  private reclaimSettled(): void {
    let freed = false;
    for (let slot = 0; slot < this.q.slots; slot++) {
      if (!this.entries[slot]?.settled) continue;
      if (Atomics.compareExchange(this.q.state, slot, this.tickets[slot], FREE) !== this.tickets[slot]) continue; // taken: its answer frees it
      Atomics.sub(this.q.control, QUEUED, 1);
      this.release(slot);
      freed = true;
    }
    if (freed) this.refill();
  }

  private release(slot: number): Entry<EncodedText> | undefined {
    const entry = this.entries[slot];
    this.entries[slot] = undefined;
    Atomics.store(this.q.state, slot, FREE);
    this.free.push(slot);
    return entry;
  }

  /** Moves inputs waiting here into free slots, oldest first. */
  private refill(): void {
    let moved = false;
    while (this.free.length > 0 && this.waiting.length > 0) {
      const e = this.waiting.shift()!;
      if (e.settled) continue;
      this.write(this.free.pop()!, e);
      moved = true;
    }
    if (moved) this.publish();
  }
}
