import { chooseCandidate, type BatchCostModel } from './batch-cost.js';

/** What bounds one model call, in the units of the batcher's size function (tokens for text). */
export interface BatchBudget {
  maxBatchTokens: number;
  maxBatchRequests: number;
  /** A padded batch takes another input only while useful units stay at least this share of the padded ones. */
  minEfficiency: number;
  /** The backend pays for the longest input times the batch size (else for the inputs' own sizes). */
  padded: boolean;
}

/** One model call: positions in the queue given to `chooseBatch`, and its cost (`units`) and useful size. */
export interface BatchChoice {
  picked: number[];
  useful: number;
  units: number;
}

/** How many queued inputs a batch is chosen from: enough to find similar lengths, cheap to sort. */
const WINDOW_PER_REQUEST = 4;
const MIN_WINDOW = 64;

/** The queued inputs a batch is chosen among: the oldest ones. */
export function choiceWindow(budget: Pick<BatchBudget, 'maxBatchRequests'>): number {
  return Math.max(MIN_WINDOW, budget.maxBatchRequests * WINDOW_PER_REQUEST);
}

/**
 * `sizes`: the inputs a batch is chosen among, oldest first (the queue's first choiceWindow()).
 * Takes the oldest input (so nothing starves) and grows the batch around it with the inputs of nearest size, within the token
 * budget, the input cap and the padding-efficiency floor; then keeps the step of that growth the
 * learned cost model expects to embed the most units per millisecond (the largest step, until it
 * knows). Pure apart from reading the cost model, so the main thread's batcher and the session
 * threads that take batches from shared memory choose alike.
 */
export function chooseBatch(sizes: ArrayLike<number>, budget: BatchBudget, costModel: Pick<BatchCostModel, 'fit' | 'wantsSpread'>): BatchChoice | null {
  if (sizes.length === 0) return null;
  const sorted: { age: number; n: number }[] = [];
  for (let age = 0; age < sizes.length; age++) sorted.push({ age, n: sizes[age] });
  sorted.sort((a, b) => a.n - b.n || a.age - b.age);
  const start = sorted.findIndex((s) => s.age === 0);
  const cost = (inputs: number, longest: number, tokens: number) => (budget.padded ? inputs * longest : tokens);

  let lo = start;
  let hi = start;
  let longest = sorted[start].n;
  let tokens = longest;
  // Every step of the growth is a candidate; the cost model picks one (the last, until it knows).
  const candidates = [{ lo, hi, useful: tokens, units: cost(1, longest, tokens) }];
  const fits = (inputs: number, newLongest: number, newTokens: number) =>
    cost(inputs, newLongest, newTokens) <= budget.maxBatchTokens && (!budget.padded || newTokens >= budget.minEfficiency * inputs * newLongest);

  while (hi - lo + 1 < budget.maxBatchRequests) {
    const inputs = hi - lo + 2;
    const shorter = lo > 0 ? sorted[lo - 1].n : -1;
    const longer = hi < sorted.length - 1 ? sorted[hi + 1].n : -1;
    // Padding a shorter input wastes (longest - its length); a longer one re-pads everyone.
    const shorterWaste = shorter >= 0 ? longest - shorter : Infinity;
    const longerWaste = longer >= 0 ? (longer - longest) * (inputs - 1) : Infinity;
    if (shorterWaste <= longerWaste && shorter >= 0 && fits(inputs, longest, tokens + shorter)) {
      lo--;
      tokens += shorter;
    } else if (longer >= 0 && fits(inputs, longer, tokens + longer)) {
      hi++;
      longest = longer;
      tokens += longer;
    } else if (shorter >= 0 && fits(inputs, longest, tokens + shorter)) {
      lo--;
      tokens += shorter;
    } else {
      break;
    }
    candidates.push({ lo, hi, useful: tokens, units: cost(hi - lo + 1, longest, tokens) });
  }

  const pick = candidates[chooseCandidate(candidates, costModel)];
  return { picked: sorted.slice(pick.lo, pick.hi + 1).map((s) => s.age), useful: pick.useful, units: pick.units };
}
