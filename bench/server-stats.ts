/**
 * The server's view of a phase, from two /metrics scrapes around it: batch sizes and model time
 * are cumulative (differenced), the event-loop lag gauges cover the time since the previous
 * scrape (the server resets them on each scrape).
 */
import type { ServerStats } from './report.js';

export type Scrape = { at: number; values: Map<string, number> };

export async function scrape(httpUrl: string): Promise<Scrape> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return { at: performance.now(), values };
}

export function phaseStats(before: Scrape, after: Scrape): ServerStats {
  const d = (name: string) => (after.values.get(name) ?? 0) - (before.values.get(name) ?? 0);
  const batches = d('te_batch_next_size_count');
  const lag = (stat: string) => {
    const v = after.values.get(`nodejs_eventloop_lag_${stat}_seconds`);
    return v === undefined ? null : v * 1000;
  };
  return {
    batches,
    meanBatchSize: batches > 0 ? d('te_batch_next_size_sum') / batches : 0,
    paddingEfficiency: d('coalesce_batch_padded_tokens_total') > 0 ? d('coalesce_batch_tokens_total') / d('coalesce_batch_padded_tokens_total') : null,
    // The sessions' own time: a call's time as the main thread sees it includes its answer's wait
    // for the event loop, and overlaps the next call when sessions take their batches themselves.
    modelBusy: (d('coalesce_batch_session_duration_sum') || d('te_batch_inference_duration_sum')) / ((after.at - before.at) / 1000),
    eventLoopLagP99Ms: lag('p99'),
    eventLoopLagMaxMs: lag('max'),
  };
}

/**
 * The bucket bound that holds quantile q (0..1) of a histogram's observations between two
 * scrapes: `le` of the first cumulative bucket reaching q of the count (labels other than le are
 * summed over). Coarse by the buckets' width, but free: the server counts them anyway.
 */
export function histogramQuantileBound(before: Scrape, after: Scrape, name: string, q: number): number | null {
  const cumulative = new Map<number, number>();
  const bucket = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"`);
  for (const [key, value] of after.values) {
    const m = bucket.exec(key);
    if (!m) continue;
    const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
    cumulative.set(le, (cumulative.get(le) ?? 0) + value - (before.values.get(key) ?? 0));
  }
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total = cumulative.get(Infinity) ?? 0;
  if (total <= 0) return null;
  return bounds.find((le) => (cumulative.get(le) ?? 0) >= q * total) ?? null;
}
