import type { Context, Hono } from 'hono';
import type { ImageFacade, TextFacade } from './app.js';
import { validation } from '../../errors.js';
import { openaiListBody } from './encode.js';
import { optionalInt, optionalString, parseJsonBody, stringInputs } from './parse.js';
import { setTimingHeaders } from './timing-headers.js';
import { openaiImageEmbeddings, wantsImages } from './image-routes.js';
import { bodyText, clientGone } from './node-body.js';

/**
 * OpenAI's embeddings API, so the official SDK works unchanged. The SDK asks for base64 by
 * default and decodes it itself; `model` is echoed, not checked (one process serves one model).
 */
export const OPENAI_PATHS: ReadonlySet<string> = new Set(['/v1/embeddings', '/embeddings']);

/** `images`: the image tower of an image-text model; inputs may then be images (see image-routes.ts). */
export function openaiRoutes(app: Hono, embedder: TextFacade, modelName: string, images?: ImageFacade): void {
  const handler = async (c: Context) => {
    const body = parseJsonBody(await bodyText(c));
    const inputs = stringInputs(body, 'input');
    const format = optionalString(body, 'encoding_format') ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      throw validation(`\`encoding_format\` must be "float" or "base64", not ${JSON.stringify(format)}`, 'encoding_format');
    }
    if (images && wantsImages(body, inputs)) return openaiImageEmbeddings(c, body, inputs, format, { images, texts: embedder, modelName });
    if (!images && optionalString(body, 'modality') === 'image') {
      throw validation(`\`modality\` "image" needs an image-text model (CLIP, SigLIP); ${modelName} embeds text only`, 'modality');
    }
    const result = await embedder.embed({
      inputs,
      normalize: true,
      dimensions: optionalInt(body, 'dimensions'),
      signal: clientGone(c),
    });
    setTimingHeaders(c, result.timings, result.promptTokens, inputs.reduce((n, s) => n + s.length, 0), embedder.info.device);
    c.header('content-type', 'application/json');
    return c.body(openaiListBody(result.vectors, format, modelName, result.promptTokens));
  };
  // '/embeddings' without the version prefix is what Infinity and some clients use.
  for (const path of OPENAI_PATHS) app.post(path, handler);
}
