import type { TextFacade } from './app.js';
import { countChars, timingHeaders } from '../timing-headers.js';
import { jsonReply, vectorsReply, type JsonRoute } from './json-route.js';
import { decodeRequest, direction, embedRequest, parseBody, similarityRequest, splitInputs, tokenizeRequest } from './schemas.js';

/** What a model of each kind answers at TEI's `POST /` and `POST /invocations`. */
export type ModelKind = 'embed';

/** TEI's /embed: texts or token ids in, vectors out. */
export function embedHandler(embedder: TextFacade): JsonRoute['handle'] {
  return async (request) => {
    const body = parseBody(embedRequest, request.body);
    const { texts, ids } = splitInputs(body.inputs);
    const result = await embedder.embed({
      inputs: texts,
      tokenIds: ids,
      normalize: body.normalize ?? true,
      truncate: body.truncate ?? undefined,
      truncationDirection: direction(body.truncation_direction),
      dimensions: body.dimensions ?? undefined,
      promptName: body.prompt_name ?? undefined,
      signal: request.signal(),
      deadline: request.deadline(),
    });
    const characters = countChars(texts);
    return vectorsReply(request, result.vectors, timingHeaders(result.timings, result.promptTokens, characters, embedder.info.device));
  };
}

/** Cosine of two vectors already L2-normalized. */
function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** TEI's routes: /embed, /similarity, /tokenize, /decode. */
export function teiRoutes(embedder: TextFacade): JsonRoute[] {
  return [
    { path: '/embed', style: 'tei', handle: embedHandler(embedder) },
    {
      path: '/similarity',
      style: 'tei',
      // TEI's sentence similarity: the cosine of the source sentence's embedding with each sentence's.
      async handle(request) {
        const { inputs, parameters } = parseBody(similarityRequest, request.body);
        const result = await embedder.embed({
          inputs: [inputs.source_sentence, ...inputs.sentences],
          normalize: true,
          truncate: parameters?.truncate ?? undefined,
          truncationDirection: direction(parameters?.truncation_direction),
          promptName: parameters?.prompt_name ?? undefined,
          signal: request.signal(),
          deadline: request.deadline(),
        });
        const [source, ...others] = result.vectors;
        const characters = countChars([inputs.source_sentence, ...inputs.sentences]);
        const reply = jsonReply(others.map((v) => dot(source, v)));
        Object.assign(reply.headers, timingHeaders(result.timings, result.promptTokens, characters, embedder.info.device));
        return reply;
      },
    },
    {
      path: '/tokenize',
      style: 'tei',
      async handle({ body }) {
        const request = parseBody(tokenizeRequest, body);
        const tokens = await embedder.tokenize({
          inputs: typeof request.inputs === 'string' ? [request.inputs] : request.inputs,
          addSpecialTokens: request.add_special_tokens ?? true,
          promptName: request.prompt_name ?? undefined,
          truncate: request.truncate ?? undefined,
          truncationDirection: direction(request.truncation_direction),
        });
        return jsonReply(tokens);
      },
    },
    {
      path: '/decode',
      style: 'tei',
      async handle({ body }) {
        const request = parseBody(decodeRequest, body);
        const ids = typeof request.ids[0] === 'number' ? [request.ids as number[]] : (request.ids as number[][]);
        return jsonReply(await embedder.decode(ids, request.skip_special_tokens ?? true));
      },
    },
  ];
}

/**
 * TEI's `POST /` and SageMaker's `POST /invocations`: the model kind's own route. Embedding
 * models embed (as `@huggingface/inference`'s featureExtraction with an endpointUrl expects);
 * rerankers and classifiers will add their kind here.
 */
export function invocationRoutes(embedder: TextFacade, kind: ModelKind = 'embed'): JsonRoute[] {
  const byKind: Record<ModelKind, JsonRoute['handle']> = { embed: embedHandler(embedder) };
  return ['/', '/invocations'].map((path) => ({ path, style: 'tei', handle: byKind[kind] }));
}
