/** The session threads' side of the shared text queue (layout.ts): choosing and taking a batch. */
import { chooseBatch, choiceWindow, type BatchBudget } from '../batch-choice.js';
import type { BatchCostModel } from '../batch-cost.js';
import { isTicket, LOCK, MAX_SLOTS, PUBLISHED, QUEUED, TAKEN, type SharedQueueViews } from './layout.js';

/** Slot numbers fit below this: sort keys are order x SLOT_KEY + slot. */
const SLOT_KEY = MAX_SLOTS;

/** A batch taken from the queue, packed flat as a session runs it. */
export interface TakenBatch {
  /** The slots taken, in the order of the rows: the answer names them so the main thread can route it. */
  slots: Int32Array;
  ids: Uint32Array;
  typeIds: Uint8Array;
  lengths: Uint32Array;
  /** The call's cost in budget units, and its inputs' own tokens. */
  units: number;
  useful: number;
}

/** Session threads choose one at a time, so two free sessions do not pick the same inputs. */
function lock(control: Int32Array): void {
  while (Atomics.compareExchange(control, LOCK, 0, 1) !== 0) Atomics.wait(control, LOCK, 1);
}

function unlock(control: Int32Array): void {
  Atomics.store(control, LOCK, 0);
  Atomics.notify(control, LOCK, 1);
}

/**
 * Chooses a batch among the queued inputs as the main thread's batcher would (chooseBatch), takes
 * its slots and packs their tokens; null when nothing is queued. Inputs cancelled between the
 * choice and the take are left out.
 */
export function takeBatch(q: SharedQueueViews, budget: BatchBudget, costModel: Pick<BatchCostModel, 'fit' | 'wantsSpread'>): TakenBatch | null {
  if (Atomics.load(q.control, QUEUED) <= 0) return null;
  lock(q.control);
  let taken: number[] = [];
  try {
    // Plain reads find the queued slots (an atomic read per slot cost ~4x more), stopping once all
    // are found; an atomic read of each found ticket then makes the slot's contents visible.
    const expected = Math.max(0, Atomics.load(q.control, QUEUED));
    const tickets = new Int32Array(q.slots);
    // Admission order and slot in one number, so a native numeric sort orders them by age.
    const keys = new Float64Array(expected);
    let found = 0;
    for (let s = 0; s < q.slots && found < expected; s++) {
      if (!isTicket(q.state[s])) continue;
      const t = Atomics.load(q.state, s);
      if (!isTicket(t)) continue;
      tickets[s] = t;
      keys[found++] = q.order[s] * SLOT_KEY + s;
    }
    const queued = Array.from(keys.subarray(0, found).sort(), (key) => key % SLOT_KEY);
    const window = queued.slice(0, choiceWindow(budget));
    const choice = chooseBatch(
      window.map((s) => q.lengths[s]),
      budget,
      costModel,
    );
    if (!choice) return null;
    taken = choice.picked.map((i) => window[i]).filter((s) => Atomics.compareExchange(q.state, s, tickets[s], TAKEN) === tickets[s]);
    Atomics.sub(q.control, QUEUED, taken.length);
  } finally {
    unlock(q.control);
  }
  if (taken.length === 0) return null;
  const lengths = new Uint32Array(taken.length);
  let total = 0;
  let longest = 0;
  taken.forEach((s, i) => {
    lengths[i] = q.lengths[s];
    total += lengths[i];
    longest = Math.max(longest, lengths[i]);
  });
  const ids = new Uint32Array(total);
  const typeIds = new Uint8Array(total);
  let at = 0;
  taken.forEach((s, i) => {
    const from = s * q.slotTokens;
    ids.set(q.ids.subarray(from, from + lengths[i]), at);
    typeIds.set(q.typeIds.subarray(from, from + lengths[i]), at);
    at += lengths[i];
  });
  // Counted on what was taken: an input cancelled after the choice is not in the call.
  return { slots: Int32Array.from(taken), ids, typeIds, lengths, units: budget.padded ? taken.length * longest : total, useful: total };
}

/** Resolves once inputs were published after `seen` (a value of the PUBLISHED cell read before looking). */
export async function published(q: SharedQueueViews, seen: number): Promise<void> {
  const waiting = Atomics.waitAsync(q.control, PUBLISHED, seen);
  if (waiting.async) await waiting.value;
}

/** The PUBLISHED cell, read before looking for work so no publication in between is missed. */
export function publications(q: SharedQueueViews): number {
  return Atomics.load(q.control, PUBLISHED);
}
