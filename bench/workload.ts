/**
 * The workload as one model sees it: the requests plus their token counts, tokenized by the
 * server's own tokenizer code (HfTokenizer, truncation on, as the bench requests ask).
 */
import { readManifest, type ModelManifest } from '../src/model-prep/manifest.js';
import type { EncodedText } from '../src/core/types.js';
import { HfTokenizer } from '../src/preprocess/tokenizer.js';
import type { LoadWorkload } from './load.js';
import { makeWorkload } from './texts.js';

export interface WorkloadSpec {
  seed: number;
  requests: number;
  /** Share of requests with one text (default 0.7; the rest carry 2-8). */
  singleShare?: number;
}

export interface ModelWorkload extends LoadWorkload {
  manifest: ModelManifest;
  tokenizer: HfTokenizer;
  /** Every text of one pass, encoded, request after request. */
  encoded: EncodedText[];
}

export function modelWorkload(modelDir: string, spec: WorkloadSpec): ModelWorkload {
  const manifest = readManifest(modelDir);
  const tokenizer = HfTokenizer.fromFiles(manifest.tokenizerPath, manifest.tokenizerConfigPath, manifest.maxLength);
  const { requests } = makeWorkload({ seed: spec.seed, requests: spec.requests, singleShare: spec.singleShare });
  const encoded: EncodedText[] = [];
  const tokens = requests.map((texts) => {
    let n = 0;
    for (const t of texts) {
      const e = tokenizer.encode(t, { truncate: true, direction: 'right' });
      encoded.push(e);
      n += e.ids.length;
    }
    return n;
  });
  return { requests, tokens, manifest, tokenizer, encoded };
}
