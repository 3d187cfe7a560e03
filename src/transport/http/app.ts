import { Hono, type Context } from 'hono';
import type { Embedder } from '../../core/embedder.js';
import type { ImageEmbedder } from '../../core/image-embedder.js';
import type { ZeroShotClassifier } from '../../core/zero-shot.js';
import { CoalesceError } from '../../errors.js';
import { bodyText, clientGone, payloadLimit, requestHeader } from './node-body.js';
import { openaiRoutes } from './openai-routes.js';
import { teiRoutes } from './tei-routes.js';
import { imageRoutes } from './image-routes.js';
import { errorReply, type JsonRoute, type Reply, type RouteRequest } from './json-route.js';
import { parseJsonBody } from './parse.js';
import { playgroundRoutes } from './playground/routes.js';

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

/** Every POST route with a JSON body: TEI's, OpenAI's and, for image-text models, the image routes. */
export function jsonRoutes(deps: HttpDeps): JsonRoute[] {
  return [...teiRoutes(deps.embedder), ...openaiRoutes(deps.embedder, deps.modelName, deps.images?.images), ...(deps.images ? imageRoutes(deps.images) : [])];
}

/** A reply as a Response with its headers as a plain object: @hono/node-server then writes it without a Headers object. */
export function replyResponse(reply: Reply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

async function routeRequest(c: Context): Promise<RouteRequest> {
  return { body: parseJsonBody(await bodyText(c)), header: (name) => requestHeader(c, name), signal: () => clientGone(c) };
}

/** The HTTP transport: translates requests to embedder calls and errors to TEI's or OpenAI's shape. */
export function createHttpApp(deps: HttpDeps, routes: JsonRoute[] = jsonRoutes(deps)): Hono {
  const app = new Hono();
  const styles = new Map(routes.map((r) => [r.path, r.style]));

  app.onError((e, c) => replyResponse(errorReply(e, styles.get(c.req.path) ?? 'tei')));
  app.notFound((c) => replyResponse(errorReply(new CoalesceError('not_found', `no route ${c.req.method} ${c.req.path}`), 'tei')));

  app.use('*', payloadLimit(deps.payloadLimit));

  app.get('/health', async (c) => {
    if (!(await deps.ready())) throw new CoalesceError('unhealthy', 'the model is not ready');
    return c.body(null, 200);
  });
  app.get('/info', async (c) => c.json(await deps.info()));
  app.get('/metrics', async (c) => c.text(await deps.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
  playgroundRoutes(app);

  for (const route of routes) app.post(route.path, async (c) => replyResponse(await route.handle(await routeRequest(c))));
  return app;
}
