/**
 * What a served model computes, which decides the routes it answers. Detected from its folder
 * (model-prep/manifest.ts), shown in /info, and named in the error a route the model cannot serve answers.
 */
import { CoalesceError } from '../errors.js';

export const MODEL_KINDS = ['embedding', 'reranker', 'classifier', 'sparse', 'multi-vector'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

const DESCRIBED: Record<ModelKind, string> = {
  embedding: 'an embedding model (it serves /embed, /v1/embeddings, /similarity, /embed_all)',
  reranker: 'a re-ranker (it serves /rerank, /v1/rerank, /predict)',
  classifier: 'a classifier (it serves /predict)',
  sparse: 'a sparse (SPLADE) model (it serves /embed_sparse)',
  'multi-vector': 'a multi-vector (ColBERT) model (it serves /embed_all and MaxSim scores on /rerank)',
};

/** TEI's wording for the two it has ("model is not a re-ranker model"), then what this model is. */
export function wrongKind(kind: ModelKind, wanted: string): CoalesceError {
  return new CoalesceError('model_kind', `model is not ${wanted}: this server's model is ${DESCRIBED[kind]}`);
}

/** How a classifier's logits become scores (transformers' text-classification pipeline). */
export type ProblemType = 'single_label_classification' | 'multi_label_classification' | 'regression';
