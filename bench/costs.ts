/**
 * Per-text main-thread costs of the server's own code, timed in-process on the workload: the
 * tokenizer (HfTokenizer.encode), the response encoder (vectorsToJson) and the request parser
 * (parseJsonBody + stringInputs). Multiplied by a served rate they say how much of the one
 * main-thread core each takes.
 */
import { parseJsonBody, stringInputs } from '../src/transport/http/parse.js';
import { vectorsToJson } from '../src/transport/http/encode.js';
import type { MainThreadCosts } from './report.js';
import { rng } from './texts.js';
import type { ModelWorkload } from './workload.js';

/** Runs `fn` over the items for at least `minMs` (whole passes), returns µs per item. */
function timePerItem<T>(items: readonly T[], fn: (item: T) => void, weight: (item: T) => number, minMs: number): number {
  for (const item of items.slice(0, 200)) fn(item); // JIT warm-up
  let n = 0;
  const start = performance.now();
  do {
    for (const item of items) {
      fn(item);
      n += weight(item);
    }
  } while (performance.now() - start < minMs);
  return ((performance.now() - start) * 1000) / n;
}

export function measureCosts(workload: ModelWorkload, dimensions: number, minMs = 300): MainThreadCosts {
  const options = { truncate: true, direction: 'right' as const };
  const requests = workload.requests.slice(0, 1000);
  const tokenizeUsPerText = timePerItem(requests, (texts) => texts.forEach((t) => workload.tokenizer.encode(t, options)), (t) => t.length, minMs);

  const r = rng(1);
  const unit = (): Float32Array => {
    const v = Float32Array.from({ length: dimensions }, () => r() - 0.5);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
  const responses = requests.map((texts) => texts.map(unit));
  const jsonEncodeUsPerText = timePerItem(responses, (vectors) => vectorsToJson(vectors), (v) => v.length, minMs);

  const bodies = requests.map((texts) => JSON.stringify({ inputs: texts, truncate: true }));
  const jsonParseUsPerRequest = timePerItem(bodies, (body) => stringInputs(parseJsonBody(body), 'inputs'), () => 1, minMs);
  return { tokenizeUsPerText, jsonEncodeUsPerText, jsonParseUsPerRequest };
}
