/**
 * Request bodies of the task routes (reranking, classification, sparse and token vectors), as
 * zod schemas that validate requests and describe them in the OpenAPI document. TEI's bodies follow
 * TEI 1.9.3's router/src/http/types.rs (unknown fields ignored); /v1/rerank follows the
 * Cohere / Jina rerank API that LangChain, LlamaIndex and vector databases call.
 */
import { z } from 'zod/v4';
import { promptName, truncate, truncationDirection } from './schemas.js';

const rawScores = z
  .boolean({ error: 'must be a boolean' })
  .nullish()
  .meta({ description: "The model's logits instead of sigmoid / softmax scores (default false)." });
const texts = z.union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings' });

export const rerankRequest = z
  .object({
    query: z.string({ error: 'must be a string' }),
    texts: z.array(z.string(), { error: 'must be a list of strings' }),
    truncate,
    truncation_direction: truncationDirection,
    raw_scores: rawScores,
    return_text: z.boolean({ error: 'must be a boolean' }).nullish().meta({ description: 'Echo each text in its rank (default false).' }),
  })
  .meta({ id: 'RerankRequest' });

const document = z.union([z.string(), z.object({ text: z.string({ error: 'must be a string' }) })], {
  error: 'must be a string or an object with `text`',
});

export const cohereRerankRequest = z
  .object({
    model: z.string({ error: 'must be a string' }).nullish().meta({ description: 'Echoed in the answer; one server serves one model.' }),
    query: z.string({ error: 'must be a string' }),
    documents: z.array(document, { error: 'must be a list of strings or of objects with `text`' }),
    top_n: z
      .int({ error: 'must be an integer' })
      .min(1, { error: 'must be at least 1' })
      .nullish()
      .meta({ description: 'Return only the best N (default all).' }),
    return_documents: z.boolean({ error: 'must be a boolean' }).nullish().meta({ description: 'Include each document in its result (default false).' }),
    truncate,
  })
  .meta({ id: 'CohereRerankRequest' });

const pair = z.tuple([z.string(), z.string()], { error: 'must be a pair of strings' });
/** TEI's PredictInput: one text, one pair ["a", "b"], or a list of texts and pairs. A list of exactly two strings is a pair, as in TEI. */
export const predictInputs = z
  .union([z.string(), pair, z.array(z.union([z.string(), pair]))], { error: 'must be a string, a pair of strings, or a list of strings and pairs' })
  .meta({ description: 'A text, a pair of texts ["a", "b"], or a list of texts and pairs (a list of exactly two strings is one pair).' });

export const predictRequest = z
  .object({ inputs: predictInputs, truncate, truncation_direction: truncationDirection, raw_scores: rawScores })
  .meta({ id: 'PredictRequest' });

export const embedSparseRequest = z
  .object({ inputs: texts, truncate, truncation_direction: truncationDirection, prompt_name: promptName })
  .meta({ id: 'EmbedSparseRequest' });

export const embedAllRequest = z
  .object({ inputs: texts, truncate, truncation_direction: truncationDirection, prompt_name: promptName })
  .meta({ id: 'EmbedAllRequest' });
