import type { ImageFacade, TextFacade } from './app.js';
import { CoalesceError, isCoalesceError, validation } from '../../errors.js';
import { countChars, timingHeaders } from '../timing-headers.js';
import { openaiListBody } from './encode.js';
import { openaiImageEmbeddings, wantsImages } from './image-routes.js';
import { encodedJsonReply, jsonReply, type GetRoute, type JsonRoute } from './json-route.js';
import { openaiEmbeddingsRequest, parseBody, splitInputs } from './schemas.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';
import { vectorEncoder } from '../vector-encodings.js';

/**
 * OpenAI's embeddings API, so the official SDK works unchanged. The SDK asks for base64 by
 * default and decodes it itself; `model` picks the model when the process serves several (app.ts), and is not checked when it serves one.
 * '/embeddings' without the version prefix is what Infinity and some clients use.
 */
const OPENAI_PATHS = ['/v1/embeddings', '/embeddings'];

/** When the process started (the same in every HTTP thread, to the second): the `created` of its one model. */
const STARTED = Math.round(Date.now() / 1000 - process.uptime());

/**
 * The core speaks TEI's field names (`inputs`, `truncate`); OpenAI's request has `input` and no
 * truncation option, so its errors name its own fields.
 */
function inOpenaiTerms(e: unknown): unknown {
  if (!isCoalesceError(e)) return e;
  const message = e.message
    .replace(/`inputs(\[\d+\])?`/g, '`input$1`')
    .replace('Set `truncate` to true to cut it.', "OpenAI's API has no truncation option: the server cuts long inputs when started with --auto-truncate.");
  return new CoalesceError(e.kind, message, e.param === 'inputs' ? 'input' : e.param);
}

/** `images`: the image tower of an image-text model; inputs may then be images (see image-routes.ts). */
export function openaiRoutes(embedder: TextFacade, modelName: string, images?: ImageFacade, quantization?: QuantizationRanges | null): JsonRoute[] {
  const handle: JsonRoute['handle'] = async (request) => {
    const body = parseBody(openaiEmbeddingsRequest, request.body);
    const { texts, ids } = splitInputs(body.input);
    const format = body.encoding_format ?? 'float';
    const dimensions = body.dimensions ?? undefined;
    if (!images && body.modality === 'image') {
      throw validation(`\`modality\` "image" needs an image-text model (CLIP, SigLIP); ${modelName} embeds text only`, 'modality');
    }
    try {
      if (images && !ids && wantsImages(body.modality ?? undefined, texts)) {
        if (format !== 'float' && format !== 'base64') {
          throw validation(`\`encoding_format\` "${format}" is for text embeddings; image inputs take "float" or "base64"`, 'encoding_format');
        }
        return await openaiImageEmbeddings(
          request,
          texts,
          { format, dimensions, allImages: body.modality === 'image' },
          { images, texts: embedder, modelName },
        );
      }
      const encode = vectorEncoder(
        { encoding: format, ranges: body.ranges ?? undefined, dimensions, normalize: true, modelDimensions: embedder.info.dimensions },
        quantization,
      );
      const result = await embedder.embed({
        inputs: texts,
        tokenIds: ids,
        normalize: true,
        dimensions,
        signal: request.signal(),
        deadline: request.deadline(),
      });
      const headers = timingHeaders(result.timings, result.promptTokens, countChars(texts), embedder.info.device);
      return encodedJsonReply(openaiListBody(encode(result.vectors), format, modelName, result.promptTokens), headers);
    } catch (e) {
      throw inOpenaiTerms(e);
    }
  };
  return OPENAI_PATHS.map((path) => ({ path, style: 'openai', handle }));
}

/** OpenAI's model list (`GET /v1/models`, and `/models`): every model this server serves, the default first. */
export function openaiGetRoutes(models: string | readonly ({ id: string } & Record<string, unknown>)[]): GetRoute[] {
  const entries = typeof models === 'string' ? [{ id: models }] : models;
  const list = { object: 'list', data: entries.map(({ id, ...facts }) => ({ id, object: 'model', created: STARTED, owned_by: 'coalesce', ...facts })) };
  return ['/v1/models', '/models'].map((path) => ({ path, handle: () => jsonReply(list) }));
}
