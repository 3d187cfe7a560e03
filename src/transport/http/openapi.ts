/**
 * The OpenAPI 3.1 document of the HTTP API, built from the zod schemas that validate the request
 * bodies (schemas.ts), so the document cannot drift from what the server accepts.
 */
import { z } from 'zod/v4';
import { VERSION } from '../../version.js';
import type { JsonRoute } from './json-route.js';
import * as s from './schemas.js';
import * as t from './task-schemas.js';

interface PostDoc {
  summary: string;
  schema: z.ZodType;
  response: Record<string, unknown>;
  tag: 'TEI' | 'OpenAI' | 'Cohere' | 'Images';
}

const floats = { type: 'array', items: { type: 'number' } };
const ints = { type: 'array', items: { type: 'integer' } };
const base64 = { type: 'string', contentEncoding: 'base64' };
const vectors = {
  type: 'array',
  items: { type: 'array', items: { type: 'number' } },
  description: 'One vector per input; with `Accept: application/octet-stream`, packed little-endian float32 rows.',
};
const encodedVectors = {
  type: 'array',
  items: { oneOf: [floats, ints, base64] },
  description:
    'One vector per input: floats, or integers for int8 / uint8 / binary / ubinary, or a base64 string of the float32 bytes. With `Accept: application/octet-stream`, the rows back to back (headers x-embedding-encoding, x-embedding-dimensions, x-embedding-row-bytes, x-embedding-count).',
};
const byType = Object.fromEntries(
  ['float', 'int8', 'uint8', 'binary', 'ubinary', 'base64'].map((t) => [t, { type: 'array', items: t === 'float' ? floats : t === 'base64' ? base64 : ints }]),
);
const cohereEmbedResponse = {
  type: 'object',
  required: ['id', 'embeddings', 'texts', 'meta'],
  properties: {
    id: { type: 'string' },
    embeddings: { type: 'object', properties: byType, description: 'One list of vectors per requested embedding type.' },
    texts: { type: 'array', items: { type: 'string' } },
    meta: {
      type: 'object',
      properties: {
        api_version: { type: 'object', properties: { version: { type: 'string' } } },
        billed_units: { type: 'object', properties: { input_tokens: { type: 'integer' } } },
      },
    },
    response_type: { const: 'embeddings_by_type' },
  },
};
const openaiList = {
  type: 'object',
  required: ['object', 'data', 'model', 'usage'],
  properties: {
    object: { const: 'list' },
    data: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          object: { const: 'embedding' },
          index: { type: 'integer' },
          embedding: { oneOf: [floats, ints, base64] },
        },
      },
    },
    model: { type: 'string' },
    usage: { type: 'object', properties: { prompt_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } } },
  },
};

const ranks = {
  type: 'array',
  items: { type: 'object', required: ['index', 'score'], properties: { index: { type: 'integer' }, score: { type: 'number' }, text: { type: 'string' } } },
  description: 'Highest score first.',
};
const cohereRerank = {
  type: 'object',
  required: ['results'],
  properties: {
    id: { type: 'string' },
    model: { type: 'string' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: { index: { type: 'integer' }, relevance_score: { type: 'number' }, document: { type: 'object', properties: { text: { type: 'string' } } } },
      },
    },
    usage: { type: 'object', properties: { total_tokens: { type: 'integer' } } },
  },
};
const prediction = { type: 'object', properties: { label: { type: 'string' }, score: { type: 'number' } } };
const predictions = {
  oneOf: [
    { type: 'array', items: prediction },
    { type: 'array', items: { type: 'array', items: prediction } },
  ],
  description: 'For one input, its labels; for a list, one list per input. Highest score first.',
};
const sparse = {
  type: 'array',
  items: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, value: { type: 'number' } } } },
};

const POST_DOCS: Record<string, PostDoc> = {
  '/embed': { summary: 'Embed texts or token ids (TEI)', schema: s.embedRequest, response: encodedVectors, tag: 'TEI' },
  '/rerank': {
    summary: 'Rank texts by relevance to a query (TEI): a reranker (cross-encoder), or MaxSim for a multi-vector model',
    schema: t.rerankRequest,
    response: ranks,
    tag: 'TEI',
  },
  '/v1/rerank': { summary: 'Rerank documents (Cohere / Jina API)', schema: t.cohereRerankRequest, response: cohereRerank, tag: 'Cohere' },
  '/predict': {
    summary: "Classify texts or text pairs (TEI): labels from the model's id2label, highest score first",
    schema: t.predictRequest,
    response: predictions,
    tag: 'TEI',
  },
  '/embed_sparse': { summary: 'Sparse (SPLADE) vectors: the non-zero terms of each input (TEI)', schema: t.embedSparseRequest, response: sparse, tag: 'TEI' },
  '/embed_all': {
    summary: 'One vector per token of each input (TEI); projected and normalized for a multi-vector (ColBERT) model',
    schema: t.embedAllRequest,
    response: { type: 'array', items: vectors },
    tag: 'TEI',
  },
  '/similarity': { summary: 'Cosine similarity of a source sentence with each sentence (TEI)', schema: s.similarityRequest, response: floats, tag: 'TEI' },
  '/tokenize': {
    summary: 'Tokens of each input (TEI)',
    schema: s.tokenizeRequest,
    response: { type: 'array', items: { type: 'array', items: { type: 'object' } } },
    tag: 'TEI',
  },
  '/decode': { summary: 'Texts of token-id lists (TEI)', schema: s.decodeRequest, response: { type: 'array', items: { type: 'string' } }, tag: 'TEI' },
  '/v1/embeddings': { summary: 'Embeddings (OpenAI)', schema: s.openaiEmbeddingsRequest, response: openaiList, tag: 'OpenAI' },
  '/embeddings': { summary: 'Embeddings (OpenAI, without the version prefix)', schema: s.openaiEmbeddingsRequest, response: openaiList, tag: 'OpenAI' },
  '/v2/embed': { summary: 'Embeddings by type (Cohere v2)', schema: s.cohereEmbedRequest, response: cohereEmbedResponse, tag: 'Cohere' },
  '/embed_image': { summary: 'Embed images (image-text models)', schema: s.embedImageRequest, response: vectors, tag: 'Images' },
  '/classify_image': {
    summary: 'Zero-shot image classification (image-text models)',
    schema: s.classifyImageRequest,
    response: { type: 'array' },
    tag: 'Images',
  },
};

const teiError = { type: 'object', required: ['error', 'error_type'], properties: { error: { type: 'string' }, error_type: { type: 'string' } } };
const cohereError = {
  type: 'object',
  required: ['message'],
  properties: { message: { type: 'string' }, error_type: { type: 'string' }, param: { type: ['string', 'null'] } },
};
const openaiError = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: 'string' } },
    },
  },
};

/** A JSON Schema of `schema` for an OpenAPI 3.1 document (JSON Schema 2020-12, without its $schema). */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dropped, id: _id, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const TEI_STATUSES: Record<string, string> = {
  '400': 'Empty input or malformed JSON',
  '413': 'Body over --payload-limit',
  '415': 'Content-Type is not application/json',
  '422': 'Validation error: a field of the wrong type or value, or over a limit',
  '424': 'The model call failed',
  '429': 'Overloaded (--max-concurrent-requests)',
  '503': 'Not ready, or shutting down',
};
const OPENAI_STATUSES: Record<string, string> = { ...TEI_STATUSES, '400': 'Invalid request: empty, malformed, wrong field, or over a limit' };
delete OPENAI_STATUSES['422'];

const json = (schema: unknown) => ({ 'application/json': { schema } });

function getOp(summary: string, tag: string, content?: Record<string, unknown>) {
  return {
    get: {
      summary,
      tags: [tag],
      responses: { '200': { description: 'OK', ...(content ? { content } : {}) }, '503': { description: 'Not ready', content: json(teiError) } },
    },
  };
}

/** The document for the POST routes a server has (image routes only with an image-text model). */
export function openApiDocument(post: readonly JsonRoute[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = { TEIError: teiError, OpenAIError: openaiError, CohereError: cohereError };
  const errorSchema = { tei: 'TEIError', openai: 'OpenAIError', cohere: 'CohereError' } as const;
  for (const route of post) {
    const own = POST_DOCS[route.path];
    const shared = route.docAs ? POST_DOCS[route.docAs] : undefined;
    const doc = shared ? { ...shared, summary: `The model kind's route (TEI${route.path === '/invocations' ? ', SageMaker' : ''}): here ${route.docAs}` } : own;
    if (!doc) continue;
    const name = (doc.schema.meta() as { id?: string } | undefined)?.id ?? route.path;
    schemas[name] = jsonSchema(doc.schema);
    const error = { $ref: `#/components/schemas/${errorSchema[route.style]}` };
    const statuses = route.style === 'tei' ? TEI_STATUSES : OPENAI_STATUSES;
    paths[route.path] = {
      post: {
        summary: doc.summary,
        tags: [doc.tag],
        requestBody: { required: true, content: json({ $ref: `#/components/schemas/${name}` }) },
        responses: {
          '200': { description: 'OK', content: json(doc.response) },
          ...Object.fromEntries(Object.entries(statuses).map(([code, description]) => [code, { description, content: json(error) }])),
        },
      },
    };
  }
  const modelList = {
    type: 'object',
    properties: {
      object: { const: 'list' },
      data: {
        type: 'array',
        items: {
          type: 'object',
          properties: { id: { type: 'string' }, object: { const: 'model' }, created: { type: 'integer' }, owned_by: { type: 'string' } },
        },
      },
    },
  };
  Object.assign(paths, {
    '/health': getOp('200 once the model is loaded and warm', 'Server'),
    '/ping': getOp('200 once the model is loaded and warm (TEI, SageMaker)', 'Server'),
    '/info': getOp('The model and the effective configuration', 'Server', json({ type: 'object' })),
    '/metrics': getOp('Prometheus metrics', 'Server', { 'text/plain': { schema: { type: 'string' } } }),
    '/v1/models': getOp('The served model (OpenAI)', 'OpenAI', json(modelList)),
    '/models': getOp('The served model (OpenAI, without the version prefix)', 'OpenAI', json(modelList)),
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Coalesce',
      version: VERSION,
      description: 'TEI-, OpenAI- and Cohere-compatible embedding server.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    paths,
    components: { schemas },
  };
}
