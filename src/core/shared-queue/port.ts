/**
 * The port between the shared text queue (shared-text-queue.ts, on the main thread) and the
 * session threads that take batches from it: the messages they exchange, the queue as the
 * backend wires it to its threads, and a session thread's side of the shared memory. A backend
 * depends on this module only, never on the queue class or the memory layout.
 */
import type { BatchBudget } from '../batch-choice.js';
import type { BatchCostModel } from '../batch-cost.js';
import { viewsOf, type SharedQueueBuffers } from './layout.js';
import { publications, published, takeBatch, type TakenBatch } from './take.js';

export type { TakenBatch } from './take.js';

/** What a session thread answers for a batch it took: flat [B, D] vectors, rows in the order of `slots`. */
export type TakenAnswer =
  | {
      type: 'taken';
      slots: Int32Array;
      vectors: Float32Array;
      normalized: Float32Array;
      dimensions: number;
      /** When the session took the batch (performance.timeOrigin + now(): comparable across threads). */
      startedAt: number;
      /** How long the session worked on it. */
      sessionMs: number;
      units: number;
      useful: number;
    }
  | { type: 'taken-failed'; slots: Int32Array; message: string };

/** What the session threads are sent once: the buffers and the budget they choose batches within. */
export interface TakeOrder {
  type: 'take';
  buffers: SharedQueueBuffers;
  budget: BatchBudget;
}

export function isTakenAnswer(m: unknown): m is TakenAnswer {
  const type = (m as { type?: unknown } | null)?.type;
  return type === 'taken' || type === 'taken-failed';
}

/** The queue as the backend sees it: what to send its session threads, and where their answers go. */
export interface SharedQueuePort {
  readonly order: TakeOrder;
  /** A session thread's answer for a batch it took. */
  answer(m: TakenAnswer): void;
  /** The sessions cannot answer any more (a thread died): fail everything queued, now and later. */
  fail(error: Error): void;
}

/** A session thread's side of the queue sent in `order`. */
export interface SessionSide {
  /** A count that changes whenever inputs are published: read it before `take`, wait on it after an empty take. */
  publications(): number;
  /** Resolves once inputs were published after `seen` was read. */
  published(seen: number): Promise<void>;
  /** Chooses and takes the next batch within the order's budget, or null when nothing is queued. */
  take(costModel: Pick<BatchCostModel, 'fit' | 'wantsSpread'>): TakenBatch | null;
}

export function sessionSide(order: TakeOrder): SessionSide {
  const q = viewsOf(order.buffers);
  return {
    publications: () => publications(q),
    published: (seen) => published(q, seen),
    take: (costModel) => takeBatch(q, order.budget, costModel),
  };
}
