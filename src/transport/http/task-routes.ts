/**
 * The routes of the task models: TEI's /rerank, /predict, /embed_sparse, /embed_all; the Cohere /
 * Jina style /v1/rerank; and TEI's `POST /` and SageMaker's `POST /invocations`, which answer as
 * the model's kind's own route (as TEI dispatches them).
 */
import { randomUUID } from 'node:crypto';
import type { TextFacade } from './app.js';
import type { ModelKind } from '../../core/model-kind.js';
import type { TextPair } from '../../core/types.js';
import { countChars, timingHeaders } from '../timing-headers.js';
import { jsonReply, type JsonRoute, type Reply, type RouteRequest } from './json-route.js';
import type { TextsRequest } from '../../core/embedder.js';
import { embedHandler } from './tei-routes.js';
import { direction, parseBody } from './schemas.js';
import { cohereRerankRequest, embedAllRequest, embedSparseRequest, predictRequest, rerankRequest } from './task-schemas.js';
import type { Timings } from '../../core/types.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';

const list = (v: string | string[]) => (typeof v === 'string' ? [v] : v);

function withTimings(reply: Reply, result: { timings: Timings; promptTokens: number }, texts: readonly string[], device: string): Reply {
  Object.assign(reply.headers, timingHeaders(result.timings, result.promptTokens, countChars(texts), device));
  return reply;
}

type Handler = JsonRoute['handle'];

function rerankHandler(text: TextFacade): Handler {
  return async (request) => {
    const body = parseBody(rerankRequest, request.body);
    const result = await text.rerank({
      query: body.query,
      texts: body.texts,
      rawScores: body.raw_scores ?? false,
      truncate: body.truncate ?? undefined,
      truncationDirection: direction(body.truncation_direction),
      signal: request.signal(),
      deadline: request.deadline(),
    });
    const ranks = result.ranks.map((r) => (body.return_text ? { index: r.index, text: body.texts[r.index], score: r.score } : r));
    return withTimings(jsonReply(ranks), result, [body.query, ...body.texts], text.info.device);
  };
}

function cohereRerankHandler(text: TextFacade, modelName: string): Handler {
  return async (request) => {
    const body = parseBody(cohereRerankRequest, request.body);
    const documents = body.documents.map((d) => (typeof d === 'string' ? d : d.text));
    const result = await text.rerank({
      query: body.query,
      texts: documents,
      rawScores: false,
      truncate: body.truncate ?? undefined,
      signal: request.signal(),
      deadline: request.deadline(),
    });
    const results = result.ranks.slice(0, body.top_n ?? undefined).map((r) => ({
      index: r.index,
      relevance_score: r.score,
      ...(body.return_documents ? { document: { text: documents[r.index] } } : {}),
    }));
    // Cohere's fields (id, meta) and Jina's (model, usage) together: clients of either read theirs.
    const reply = jsonReply({
      id: randomUUID(),
      model: body.model ?? modelName,
      results,
      usage: { total_tokens: result.promptTokens },
      meta: { api_version: { version: '1' }, billed_units: { search_units: 1 } },
    });
    return withTimings(reply, result, [body.query, ...documents], text.info.device);
  };
}

function predictHandler(text: TextFacade): Handler {
  return async (request) => {
    const body = parseBody(predictRequest, request.body);
    const single = typeof body.inputs === 'string' || (body.inputs.length === 2 && body.inputs.every((x) => typeof x === 'string'));
    const inputs = (single ? [body.inputs] : body.inputs) as (string | TextPair)[];
    const result = await text.predict({
      inputs,
      rawScores: body.raw_scores ?? false,
      truncate: body.truncate ?? undefined,
      truncationDirection: direction(body.truncation_direction),
      signal: request.signal(),
      deadline: request.deadline(),
    });
    return withTimings(jsonReply(single ? result.predictions[0] : result.predictions), result, inputs.flat(), text.info.device);
  };
}

/** The request of /embed_sparse and /embed_all, as the facade takes it. */
function textsRequest(request: RouteRequest, schema: typeof embedSparseRequest): TextsRequest {
  const body = parseBody(schema, request.body);
  return {
    inputs: list(body.inputs),
    truncate: body.truncate ?? undefined,
    truncationDirection: direction(body.truncation_direction),
    promptName: body.prompt_name ?? undefined,
    signal: request.signal(),
    deadline: request.deadline(),
  };
}

function embedSparseHandler(text: TextFacade): Handler {
  return async (request) => {
    const asked = textsRequest(request, embedSparseRequest);
    const result = await text.embedSparse(asked);
    return withTimings(jsonReply(result.vectors), result, asked.inputs, text.info.device);
  };
}

function embedAllHandler(text: TextFacade): Handler {
  return async (request) => {
    const asked = textsRequest(request, embedAllRequest);
    const result = await text.embedAll(asked);
    return withTimings(jsonReply(result.tokens.map((tokens) => tokens.map((v) => Array.from(v)))), result, asked.inputs, text.info.device);
  };
}

export function taskRoutes(text: TextFacade, modelName: string): JsonRoute[] {
  return [
    { path: '/rerank', style: 'tei', handle: rerankHandler(text) },
    { path: '/v1/rerank', style: 'openai', handle: cohereRerankHandler(text, modelName) },
    { path: '/predict', style: 'tei', handle: predictHandler(text) },
    { path: '/embed_sparse', style: 'tei', handle: embedSparseHandler(text) },
    { path: '/embed_all', style: 'tei', handle: embedAllHandler(text) },
  ];
}

/** TEI's `POST /` and SageMaker's `POST /invocations`: the route of the model's kind. */
export function invocationRoutes(text: TextFacade, quantization?: QuantizationRanges | null): JsonRoute[] {
  const byKind: Record<ModelKind, [string, Handler]> = {
    embedding: ['/embed', embedHandler(text, quantization)],
    reranker: ['/rerank', rerankHandler(text)],
    classifier: ['/predict', predictHandler(text)],
    sparse: ['/embed_sparse', embedSparseHandler(text)],
    'multi-vector': ['/embed_all', embedAllHandler(text)],
  };
  const [docAs, handle] = byKind[text.info.kind];
  return ['/', '/invocations'].map((path) => ({ path, style: 'tei', handle, docAs }));
}
