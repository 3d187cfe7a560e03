import type { TextFacade } from './app.js';
import { countChars, timingHeaders } from '../timing-headers.js';
import { encodedVectorsReply, jsonReply, type JsonRoute } from './json-route.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';
import { vectorEncoder } from '../vector-encodings.js';
import { decodeRequest, direction, embedRequest, parseBody, similarityRequest, splitInputs, tokenizeRequest } from './schemas.js';

/** TEI's /embed: texts or token ids in, vectors out. */
export function embedHandler(embedder: TextFacade, quantization?: QuantizationRanges | null): JsonRoute['handle'] {
  return async (request) => {
    const body = parseBody(embedRequest, request.body);
    const { texts, ids } = splitInputs(body.inputs);
    const normalize = body.normalize ?? true;
    const dimensions = body.dimensions ?? undefined;
    const encoding = body.encoding_format ?? 'float';
    const modelDimensions = embedder.info.dimensions;
    const encode = vectorEncoder({ encoding, ranges: body.ranges ?? undefined, dimensions, normalize, modelDimensions }, quantization);
    const result = await embedder.embed({
      inputs: texts,
      tokenIds: ids,
      normalize,
      truncate: body.truncate ?? undefined,
      truncationDirection: direction(body.truncation_direction),
      dimensions,
      promptName: body.prompt_name ?? undefined,
      signal: request.signal(),
      deadline: request.deadline(),
    });
    const headers = timingHeaders(result.timings, result.promptTokens, countChars(texts), embedder.info.device);
    return encodedVectorsReply(request, encode(result.vectors), encoding, dimensions ?? modelDimensions, headers);
  };
}

/** Cosine of two vectors already L2-normalized. */
function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** TEI's routes: /embed, /similarity, /tokenize, /decode. */
export function teiRoutes(embedder: TextFacade, quantization?: QuantizationRanges | null): JsonRoute[] {
  return [
    { path: '/embed', style: 'tei', handle: embedHandler(embedder, quantization) },
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
