import { Hono } from 'hono';
import type { Embedder } from '../../core/embedder.js';
import type { ImageEmbedder } from '../../core/image-embedder.js';
import type { ZeroShotClassifier } from '../../core/zero-shot.js';
import { CoalesceError } from '../../errors.js';
import { errorResponse } from './errors.js';
import { payloadLimit } from './node-body.js';
import { OPENAI_PATHS, openaiRoutes } from './openai-routes.js';
import { teiRoutes } from './tei-routes.js';
import { imageRoutes } from './image-routes.js';

/**
 * What the routes call: the facades' methods, not the classes, so the same routes run beside the
 * facades on the main thread or in HTTP threads that reach them by message (threads/).
 */
export type TextFacade = Pick<Embedder, 'info' | 'embed' | 'tokenize' | 'decode'>;
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
}

/** The HTTP transport: translates requests to embedder calls and errors to TEI's or OpenAI's shape. */
export function createHttpApp(deps: HttpDeps): Hono {
  const { embedder } = deps;
  const app = new Hono();

  app.onError((e, c) => errorResponse(c, e, OPENAI_PATHS.has(c.req.path) ? 'openai' : 'tei'));
  app.notFound((c) => errorResponse(c, new CoalesceError('not_found', `no route ${c.req.method} ${c.req.path}`), 'tei'));

  app.use('*', payloadLimit(deps.payloadLimit));

  app.get('/health', async (c) => {
    if (!(await deps.ready())) throw new CoalesceError('unhealthy', 'the model is not ready');
    return c.body(null, 200);
  });
  app.get('/info', async (c) => c.json(await deps.info()));
  app.get('/metrics', async (c) => c.text(await deps.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4' }));

  teiRoutes(app, embedder);
  openaiRoutes(app, embedder, deps.modelName, deps.images?.images);
  if (deps.images) imageRoutes(app, deps.images);
  return app;
}
