/**
 * Scores of the task models as pure functions: a reranker's logit through a sigmoid (as
 * CrossEncoder.predict and TEI), a classifier's logits through softmax or sigmoid by problem type
 * (transformers' text-classification pipeline), and ColBERT's MaxSim.
 */
import type { ProblemType } from './model-kind.js';

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Softmax with the maximum subtracted first, so large logits do not overflow. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const e = Array.from(logits, (x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/**
 * A classifier's scores: raw logits when asked; one label or multi-label -> sigmoid per label;
 * regression -> the logits; else softmax (TEI and the pipeline's defaults).
 */
export function classScores(logits: ArrayLike<number>, problemType: ProblemType, raw: boolean): number[] {
  if (raw || problemType === 'regression') return Array.from(logits);
  if (logits.length === 1 || problemType === 'multi_label_classification') return Array.from(logits, sigmoid);
  return softmax(logits);
}

export interface LabelScore {
  label: string;
  score: number;
}

/** Labels with their scores, highest first (ties keep label order). */
export function rankLabels(labels: readonly string[], scores: readonly number[]): LabelScore[] {
  return labels.map((label, i) => ({ label, score: scores[i] })).sort((a, b) => b.score - a.score);
}

/**
 * ColBERT's late interaction: for each query token, the largest dot product with any document
 * token, summed. Both are flat [tokens x dim] runs of (already normalized) token vectors.
 */
export function maxSim(query: Float32Array, document: Float32Array, dim: number): number {
  let total = 0;
  for (let q = 0; q < query.length; q += dim) {
    let best = -Infinity;
    for (let d = 0; d < document.length; d += dim) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += query[q + k] * document[d + k];
      if (dot > best) best = dot;
    }
    if (best > -Infinity) total += best;
  }
  return total;
}

export interface Ranked {
  index: number;
  score: number;
}

/** Indices by score, highest first; equal scores keep input order (a stable sort). */
export function rankByScore(scores: readonly number[]): Ranked[] {
  return scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score);
}
