/**
 * What a model call costs, learned from the calls themselves: time ≈ fixed + perUnit × units,
 * where units are the batch's budget units (padded tokens for text). The batcher uses it to pick
 * batches for throughput. A model whose call time is mostly per padded token (any real encoder
 * on a CPU) is better served by batches of similar lengths than by big ones that pad short
 * inputs to long ones; a model whose calls cost mostly a fixed overhead (tiny graphs, GPUs) is
 * better served by the biggest batches. Measured on a 6-layer 384-wide BERT on 2 CPU cores, the
 * old rule (grow while padding efficiency stayed above 50%) ran batches at 51% efficiency: half
 * the compute went to padding (bench/cpu-bench.ts).
 */

/** Older calls weigh less: the fit follows changes of load or of the machine. */
const DECAY = 0.97;
/** Calls seen before the fit is used. */
const MIN_CALLS = 6;
/** The fit needs batch sizes that differ by at least this coefficient of variation. */
const MIN_SPREAD = 0.05;

export class BatchCostModel {
  private calls = 0;
  private w = 0;
  private x = 0;
  private y = 0;
  private xx = 0;
  private xy = 0;

  /**
   * Weighted by 1 / units², i.e. the fit minimises relative errors: a big call's time varies by
   * as many milliseconds as a small call takes in all, and would otherwise decide the intercept.
   */
  observe(units: number, ms: number): void {
    if (!(units > 0) || !Number.isFinite(ms) || ms < 0) return;
    this.calls++;
    const w = 1 / (units * units);
    this.w = this.w * DECAY + w;
    this.x = this.x * DECAY + w * units;
    this.y = this.y * DECAY + w * ms;
    this.xx = this.xx * DECAY + w * units * units;
    this.xy = this.xy * DECAY + w * units * ms;
  }

  /** Enough calls, but all of about one size: the next call should differ to tell the costs apart. */
  wantsSpread(): boolean {
    return this.calls >= MIN_CALLS / 2 && !this.spread();
  }

  private spread(): boolean {
    const mean = this.x / this.w;
    return this.xx / this.w - mean * mean > (MIN_SPREAD * mean) ** 2;
  }

  /** { fixedMs, perUnitMs } of the weighted least-squares line, or null while undetermined. */
  fit(): { fixedMs: number; perUnitMs: number } | null {
    if (this.calls < MIN_CALLS || !this.spread()) return null;
    const mean = this.x / this.w;
    const variance = this.xx / this.w - mean * mean;
    const perUnitMs = Math.max(0, (this.xy / this.w - mean * (this.y / this.w)) / variance);
    const fixedMs = Math.max(0, this.y / this.w - perUnitMs * mean);
    return fixedMs + perUnitMs > 0 ? { fixedMs, perUnitMs } : null;
  }
}

/** Candidates scoring within this share of the best count as good as the best (noise): larger wins. */
const TIE = 0.99;

/** Until the costs are known, batches pad at most this share: cheap to learn from on any model. */
const COLD_EFFICIENCY = 0.9;

/**
 * Index of the candidate batch to run, from nested candidates (each one grows the previous),
 * given each one's useful size and its cost units. With a fit: the largest whose useful size per
 * estimated millisecond is within 1% of the best. Without one: the largest that is at least 90%
 * useful, or, when the model needs calls of another size to fit, the one nearest half of that.
 */
export function chooseCandidate(candidates: readonly { useful: number; units: number }[], model: Pick<BatchCostModel, 'fit' | 'wantsSpread'>): number {
  const last = candidates.length - 1;
  if (last <= 0) return last;
  const fit = model.fit();
  if (!fit) {
    let cold = 0;
    candidates.forEach((c, i) => {
      if (c.useful >= COLD_EFFICIENCY * c.units) cold = i;
    });
    if (!model.wantsSpread()) return cold;
    const half = candidates[cold].units / 2;
    let nearest = cold;
    candidates.forEach((c, i) => {
      if (i <= cold && Math.abs(c.units - half) < Math.abs(candidates[nearest].units - half)) nearest = i;
    });
    return nearest;
  }
  const score = (c: { useful: number; units: number }) => c.useful / (fit.fixedMs + fit.perUnitMs * c.units);
  let best = 0;
  for (const c of candidates) best = Math.max(best, score(c));
  for (let i = last; i > 0; i--) if (score(candidates[i]) >= TIE * best) return i;
  return 0;
}
