/**
 * The text queue in shared memory: the main thread writes each admitted input into a slot, and
 * the session threads choose and take their batches from the slots themselves, the moment they
 * are free. With the queue on the main thread, a session idled from its answer until the main
 * thread's event loop had read it and sent the next batch: ~0.5 ms of a ~5 ms call under
 * single-text load on an H100.
 *
 * Who writes what: the main thread fills a free slot (ids, type ids, length, order), then
 * publishes it by storing a ticket in `state`. A session thread takes a slot by swapping its
 * ticket for TAKEN, and the main thread frees it (FREE) when the batch's answer arrives. The main
 * thread cancels a queued input by swapping its ticket for FREE. Tickets differ from one use of
 * a slot to the next, so a session that chose a slot which was cancelled and refilled meanwhile
 * fails to take it instead of running the wrong input.
 */

export const FREE = 0;
export const TAKEN = 1;
/** Tickets run from here up to 2^30 + FIRST_TICKET, then wrap. */
const FIRST_TICKET = 2;
const TICKETS = 2 ** 30;

/** Cells of `control`. */
export const LOCK = 0;
/** Bumped and notified whenever inputs are published: idle session threads wait on it. */
export const PUBLISHED = 1;
/** Inputs published and not yet taken or cancelled. */
export const QUEUED = 2;
const CONTROL_CELLS = 4;

/** The shared buffers: what the main thread sends every session thread. */
export interface SharedQueueBuffers {
  slots: number;
  /** Tokens a slot holds: the model's max input length. */
  slotTokens: number;
  control: SharedArrayBuffer;
  state: SharedArrayBuffer;
  lengths: SharedArrayBuffer;
  order: SharedArrayBuffer;
  ids: SharedArrayBuffer;
  typeIds: SharedArrayBuffer;
}

/** Typed views over the buffers, made once per thread. */
export interface SharedQueueViews {
  slots: number;
  slotTokens: number;
  control: Int32Array;
  /** FREE, TAKEN, or the ticket of a queued input. */
  state: Int32Array;
  lengths: Int32Array;
  /** Admission order: the batch is built around the oldest input, so nothing starves. */
  order: Float64Array;
  ids: Uint32Array;
  typeIds: Uint8Array;
}

/** Tokens the slots hold in all (~5 bytes each): slots are fewer for models with long inputs. */
const TOKENS = 2 ** 20;
const MIN_SLOTS = 256;
export const MAX_SLOTS = 2048;

/** Slots for a model of this max input length: inputs beyond them wait on the main thread. */
export function slotsFor(slotTokens: number): number {
  return Math.max(MIN_SLOTS, Math.min(MAX_SLOTS, Math.floor(TOKENS / slotTokens)));
}

export function createBuffers(slots: number, slotTokens: number): SharedQueueBuffers {
  if (!(slots >= 1 && slots <= MAX_SLOTS)) throw new RangeError(`a shared queue holds 1 to ${MAX_SLOTS} slots, not ${slots}`);
  return {
    slots,
    slotTokens,
    control: new SharedArrayBuffer(CONTROL_CELLS * 4),
    state: new SharedArrayBuffer(slots * 4),
    lengths: new SharedArrayBuffer(slots * 4),
    order: new SharedArrayBuffer(slots * 8),
    ids: new SharedArrayBuffer(slots * slotTokens * 4),
    typeIds: new SharedArrayBuffer(slots * slotTokens),
  };
}

export function viewsOf(b: SharedQueueBuffers): SharedQueueViews {
  return {
    slots: b.slots,
    slotTokens: b.slotTokens,
    control: new Int32Array(b.control),
    state: new Int32Array(b.state),
    lengths: new Int32Array(b.lengths),
    order: new Float64Array(b.order),
    ids: new Uint32Array(b.ids),
    typeIds: new Uint8Array(b.typeIds),
  };
}

/** The ticket of the input admitted `seq`-th. */
export function ticketOf(seq: number): number {
  return FIRST_TICKET + (seq % TICKETS);
}

export function isTicket(state: number): boolean {
  return state >= FIRST_TICKET;
}
