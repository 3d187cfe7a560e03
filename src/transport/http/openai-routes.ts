import type { ImageFacade, TextFacade } from './app.js';
import { validation } from '../../errors.js';
import { countChars, timingHeaders } from '../timing-headers.js';
import { openaiListBody } from './encode.js';
import { optionalInt, optionalString, stringInputs } from './parse.js';
import { openaiImageEmbeddings, wantsImages } from './image-routes.js';
import { encodedJsonReply, type JsonRoute } from './json-route.js';

/**
 * OpenAI's embeddings API, so the official SDK works unchanged. The SDK asks for base64 by
 * default and decodes it itself; `model` is echoed, not checked (one process serves one model).
 * '/embeddings' without the version prefix is what Infinity and some clients use.
 */
const OPENAI_PATHS = ['/v1/embeddings', '/embeddings'];

/** `images`: the image tower of an image-text model; inputs may then be images (see image-routes.ts). */
export function openaiRoutes(embedder: TextFacade, modelName: string, images?: ImageFacade): JsonRoute[] {
  const handle: JsonRoute['handle'] = async (request) => {
    const { body } = request;
    const inputs = stringInputs(body, 'input');
    const format = optionalString(body, 'encoding_format') ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      throw validation(`\`encoding_format\` must be "float" or "base64", not ${JSON.stringify(format)}`, 'encoding_format');
    }
    if (images && wantsImages(body, inputs)) return openaiImageEmbeddings(request, inputs, format, { images, texts: embedder, modelName });
    if (!images && optionalString(body, 'modality') === 'image') {
      throw validation(`\`modality\` "image" needs an image-text model (CLIP, SigLIP); ${modelName} embeds text only`, 'modality');
    }
    const result = await embedder.embed({
      inputs,
      normalize: true,
      dimensions: optionalInt(body, 'dimensions'),
      signal: request.signal(),
    });
    const headers = timingHeaders(result.timings, result.promptTokens, countChars(inputs), embedder.info.device);
    return encodedJsonReply(openaiListBody(result.vectors, format, modelName, result.promptTokens), headers);
  };
  return OPENAI_PATHS.map((path) => ({ path, style: 'openai', handle }));
}
