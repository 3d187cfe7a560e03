import type { ImageTimings } from '../../core/image-embedder.js';
import type { ImageFacade, ImageFacades, TextFacade } from './app.js';
import { timingHeaders } from '../timing-headers.js';
import { isImageDataUri } from '../../preprocess/image-source.js';
import { openaiListBody } from './encode.js';
import { classifyImageRequest, embedImageRequest, parseBody } from './schemas.js';
import { encodedJsonReply, jsonReply, vectorsReply, type JsonRoute, type Reply, type RouteRequest } from './json-route.js';

/** Where an image request's time went, beside TEI's timing headers. */
function imageHeaders(timings: ImageTimings, count: number, bytes: number, device: string): Record<string, string> {
  const headers = timingHeaders(timings, 0, bytes, device);
  headers['x-compute-images'] = String(count);
  headers['x-decode-time'] = String(Math.round(timings.decodeMs));
  headers['x-resize-time'] = String(Math.round(timings.resizeMs));
  return headers;
}

/**
 * Image routes of image-text models (CLIP, SigLIP):
 * - POST /embed_image {inputs: image | [images], normalize?, dimensions?} -> [[floats]] (as /embed);
 * - POST /classify_image {inputs, labels, hypothesis_template?} -> [{label, score}] per image.
 * An image is a base64 string, a data: URI, or an http(s) URL when --allow-url-fetch is on.
 */
export function imageRoutes(deps: ImageFacades): JsonRoute[] {
  const { images, classifier } = deps;
  return [
    {
      path: '/embed_image',
      style: 'tei',
      async handle(request) {
        const body = parseBody(embedImageRequest, request.body);
        const inputs = typeof body.inputs === 'string' ? [body.inputs] : body.inputs;
        const result = await images.embed({
          inputs,
          normalize: body.normalize ?? true,
          dimensions: body.dimensions ?? undefined,
          signal: request.signal(),
          deadline: request.deadline(),
        });
        return vectorsReply(request, result.vectors, imageHeaders(result.timings, inputs.length, result.bytes, images.info.device));
      },
    },
    {
      path: '/classify_image',
      style: 'tei',
      async handle(request) {
        const body = parseBody(classifyImageRequest, request.body);
        const single = typeof body.inputs === 'string';
        const inputs = single ? [body.inputs as string] : (body.inputs as string[]);
        const scores = await classifier.classify({
          inputs,
          labels: body.labels,
          hypothesisTemplate: body.hypothesis_template ?? undefined,
          signal: request.signal(),
          deadline: request.deadline(),
        });
        return jsonReply(single ? scores[0] : scores);
      },
    },
  ];
}

/** OpenAI requests that carry images: `"modality": "image"`, or inputs that are data:image/... URIs. */
export function wantsImages(modality: 'text' | 'image' | undefined, inputs: readonly string[]): boolean {
  if (modality !== undefined) return modality === 'image';
  return inputs.some(isImageDataUri);
}

/**
 * /v1/embeddings with images: with "modality": "image" every input is an image; without it,
 * data:image/... inputs are images and the others texts, each embedded by its own tower and
 * answered in the request's order (prompt_tokens counts the texts' tokens).
 */
export async function openaiImageEmbeddings(
  request: RouteRequest,
  inputs: readonly string[],
  { format, dimensions, allImages }: { format: 'float' | 'base64'; dimensions: number | undefined; allImages: boolean },
  deps: { images: ImageFacade; texts: TextFacade; modelName: string },
): Promise<Reply> {
  const isImage = inputs.map((s) => allImages || isImageDataUri(s));
  const imageInputs = inputs.filter((_, i) => isImage[i]);
  const textInputs = inputs.filter((_, i) => !isImage[i]);
  const [img, txt] = await Promise.all([
    deps.images.embed({ inputs: imageInputs, normalize: true, dimensions, signal: request.signal(), deadline: request.deadline() }),
    textInputs.length > 0
      ? deps.texts.embed({ inputs: textInputs, normalize: true, dimensions, signal: request.signal(), deadline: request.deadline() })
      : null,
  ]);
  let ii = 0;
  let ti = 0;
  const vectors = inputs.map((_, index) => (isImage[index] ? img.vectors[ii++] : txt!.vectors[ti++]));
  const headers = imageHeaders(img.timings, imageInputs.length, img.bytes, deps.images.info.device);
  return encodedJsonReply(openaiListBody(vectors, format, deps.modelName, txt?.promptTokens ?? 0), headers);
}
