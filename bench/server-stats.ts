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
