/**
 * Per-text main-thread costs of the server's own code, timed in-process on the workload: the
 * tokenizer (HfTokenizer.encode), the response encoder (vectorsToJsonBytes, what /embed sends) and the request parser
 * (parseJsonBody + the zod schema of /embed). Multiplied by a served rate they say how much of the one
 * main-thread core each takes.
 */
import { parseJsonBody } from '../src/transport/http/parse.js';
import { embedRequest, parseBody } from '../src/transport/http/schemas.js';
import { vectorsToJsonBytes } from '../src/transport/http/float-json.js';
import type { MainThreadCosts } from './report.js';
import { rng } from './texts.js';
import type { ModelWorkload } from './workload.js';

/**
 * µs per item of `fn`: whole passes over the items for at least `minMs`, three times after a
 * warm-up pass; the fastest of the three, since the shared machine only ever adds time.
 */
function timePerItem<T>(items: readonly T[], fn: (item: T) => void, weight: (item: T) => number, minMs: number): number {
  for (const item of items) fn(item); // JIT warm-up
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const start = performance.now();
    do {
      for (const item of items) {
        fn(item);
        n += weight(item);
      }
    } while (performance.now() - start < minMs);
    best = Math.min(best, ((performance.now() - start) * 1000) / n);
  }
  return best;
}

export function measureCosts(workload: ModelWorkload, dimensions: number, minMs = 200): MainThreadCosts {
  const options = { truncate: true, direction: 'right' as const };
  const requests = workload.requests.slice(0, 500);
  const tokenizeUsPerText = timePerItem(
    requests,
    (texts) => texts.forEach((t) => workload.tokenizer.encode(t, options)),
    (t) => t.length,
    minMs,
  );

  const r = rng(1);
  const unit = (): Float32Array => {
    const v = Float32Array.from({ length: dimensions }, () => r() - 0.5);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
  const responses = requests.map((texts) => texts.map(unit));
  const jsonEncodeUsPerText = timePerItem(
    responses,
    (vectors) => vectorsToJsonBytes(vectors),
    (v) => v.length,
    minMs,
  );

  const bodies = requests.map((texts) => JSON.stringify({ inputs: texts, truncate: true }));
  const jsonParseUsPerRequest = timePerItem(
    bodies,
    (body) => parseBody(embedRequest, parseJsonBody(body)),
    () => 1,
    minMs,
  );
  return { tokenizeUsPerText, jsonEncodeUsPerText, jsonParseUsPerRequest };
}
