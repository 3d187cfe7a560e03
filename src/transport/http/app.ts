import type { Embedder } from '../../core/embedder.js';
import type { ImageEmbedder } from '../../core/image-embedder.js';
import type { ZeroShotClassifier } from '../../core/zero-shot.js';
import { CoalesceError } from '../../errors.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';
import { openaiGetRoutes, openaiRoutes } from './openai-routes.js';
import { cohereRoutes } from './cohere-routes.js';
import { teiRoutes } from './tei-routes.js';
import { invocationRoutes, taskRoutes } from './task-routes.js';
import { imageRoutes } from './image-routes.js';
import { jsonReply, type GetRoute, type JsonRoute } from './json-route.js';
import { docsRoutes } from './docs.js';
import { playgroundRoutes } from './playground/routes.js';
import type { RouteTable } from './listener.js';
import type { AccessSpec } from './access.js';

/**
 * What the routes call: the facades' methods, not the classes, so the same routes run beside the
 * facades on the main thread or in HTTP threads that reach them by message (threads/).
 */
export type TextFacade = Pick<Embedder, 'info' | 'embed' | 'tokenize' | 'decode' | 'rerank' | 'predict' | 'embedSparse' | 'embedAll'>;
export type ImageFacade = Pick<ImageEmbedder, 'info' | 'embed'>;
export type ClassifierFacade = Pick<ZeroShotClassifier, 'classify'>;
export interface ImageFacades {
  images: ImageFacade;
  classifier: ClassifierFacade;
}

export interface HttpDeps {
  embedder: TextFacade;
  /** Whether the model is loaded, warm and not draining (GET /health). */
  ready: () => boolean | Promise<boolean>;
  modelName: string;
  payloadLimit: number;
  /** What GET /info shows besides the model: the effective config, version. */
  info: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Prometheus text for GET /metrics. */
  metrics: () => string | Promise<string>;
  /** Image-text models: /embed_image, /classify_image, images on /v1/embeddings. */
  images?: ImageFacades;
  /** API keys and CORS, checked before any route. */
  access?: AccessSpec;
  /** int8/uint8 ranges (calibrated at start, or from --quantization-ranges); unset: requests must bring theirs. */
  quantization?: QuantizationRanges | null;
  /** The model's prompt names, which Cohere's `input_type` may pick. */
  promptNames?: readonly string[];
}

/** Every POST route with a JSON body: TEI's, OpenAI's, Cohere's and, for image-text models, the image routes. */
export function jsonRoutes(deps: HttpDeps): JsonRoute[] {
  return [
    ...teiRoutes(deps.embedder, deps.quantization),
    ...taskRoutes(deps.embedder, deps.modelName),
    ...invocationRoutes(deps.embedder, deps.quantization),
    ...openaiRoutes(deps.embedder, deps.modelName, deps.images?.images, deps.quantization),
    ...cohereRoutes(deps.embedder, deps.promptNames ?? [], deps.quantization),
    ...(deps.images ? imageRoutes(deps.images) : []),
  ];
}

/** Health, info and metrics. */
function serverRoutes(deps: HttpDeps): GetRoute[] {
  const health = async () => {
    if (!(await deps.ready())) throw new CoalesceError('unhealthy', 'the model is not ready');
    return { status: 200, headers: {}, body: '' };
  };
  return [
    { path: '/health', handle: health },
    // TEI's (and SageMaker's) liveness route.
    { path: '/ping', handle: health },
    { path: '/info', handle: async () => jsonReply(await deps.info()) },
    { path: '/metrics', handle: async () => ({ status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: await deps.metrics() }) },
  ];
}

/** Every route of the HTTP transport. */
export function httpRoutes(deps: HttpDeps): RouteTable {
  const post = jsonRoutes(deps);
  return { post, get: [...serverRoutes(deps), ...openaiGetRoutes(deps.modelName), ...docsRoutes(post), ...playgroundRoutes()] };
}
