/** One request through the whole path of a model, by the route its kind serves: /health turns 200 only after it succeeded. */
import type { Embedder } from '../core/embedder.js';

const WARM_UP_TEXT = 'Coalesce warms up the model before it reports healthy.';

export function warmUp(embedder: Embedder): Promise<unknown> {
  const inputs = [WARM_UP_TEXT];
  switch (embedder.info.kind) {
    case 'reranker':
      return embedder.rerank({ query: WARM_UP_TEXT, texts: inputs, rawScores: false });
    case 'classifier':
      return embedder.predict({ inputs, rawScores: false });
    case 'sparse':
      return embedder.embedSparse({ inputs });
    case 'multi-vector':
      return embedder.embedAll({ inputs });
    case 'embedding':
      return embedder.embed({ inputs, normalize: true });
  }
}
