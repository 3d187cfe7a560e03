import type { Embedder } from '../../core/embedder.js';
import type { ImageEmbedder } from '../../core/image-embedder.js';
import type { ZeroShotClassifier } from '../../core/zero-shot.js';
import { CoalesceError } from '../../errors.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';
import { ModelRegistry } from '../../core/model-registry.js';
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
  /** int8/uint8 ranges of the default model (calibrated at start, or from --quantization-ranges); unset: requests must bring theirs. */
  quantization?: QuantizationRanges | null;
  /** The default model's prompt names, which Cohere's `input_type` may pick. */
  promptNames?: readonly string[];
  /**
   * Every model served, by name, the default one among them (the one `embedder`, `images` and
   * `modelName` describe). Unset: that one model only.
   */
  models?: ModelRegistry<HttpModel>;
}

/** One served model as the routes see it. */
export interface HttpModel {
  name: string;
  embedder: TextFacade;
  images?: ImageFacades;
  /** Its own /info (GET /info with x-model, GET /models/<name>/info). */
  info?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Facts fixed at start that GET /v1/models adds to the model's entry (kind, dimensions, device, memory). */
  listing?: Record<string, unknown>;
  /** int8/uint8 ranges (calibrated at start, or from --quantization-ranges); unset: requests must bring theirs. */
  quantization?: QuantizationRanges | null;
  /** The model's prompt names, which Cohere's `input_type` may pick. */
  promptNames?: readonly string[];
}

/** The header that selects a model on TEI's routes (and on tei.v1 as gRPC metadata). */
export const MODEL_HEADER = 'x-model';
/** TEI's routes of one model under its name: /models/<name>/embed. */
export const MODEL_PREFIX = '/models/';

export function modelsOf(deps: HttpDeps): ModelRegistry<HttpModel> {
  return deps.models ?? new ModelRegistry([{ name: deps.modelName, embedder: deps.embedder, images: deps.images }]);
}

/**
 * One model's POST routes: TEI's (the model picked by header or path prefix when several are
 * served), and those whose body names the model (OpenAI's, Cohere's and Jina's `model`).
 */
function modelRoutes(model: HttpModel): { tei: JsonRoute[]; byBody: JsonRoute[] } {
  const tasks = taskRoutes(model.embedder, model.name);
  return {
    tei: [
      ...teiRoutes(model.embedder, model.quantization),
      ...tasks.filter((r) => r.style === 'tei'),
      ...invocationRoutes(model.embedder, model.quantization),
      ...(model.images ? imageRoutes(model.images) : []),
    ],
    byBody: [
      ...openaiRoutes(model.embedder, model.name, model.images?.images, model.quantization),
      ...tasks.filter((r) => r.style !== 'tei'),
      ...cohereRoutes(model.embedder, model.promptNames ?? [], model.quantization),
    ],
  };
}

/**
 * The routes of several models: TEI's serve the default model, or the one the x-model header
 * names, and each model's also answer under /models/<name>/; OpenAI's pick the model its body's
 * `model` names (any name, with one model served, as before).
 */
function routesOfModels(models: ModelRegistry<HttpModel>): JsonRoute[] {
  const byModel = new Map(models.models.map((m) => [m.name, modelRoutes(m)]));
  const teiPaths = [...new Set([...byModel.values()].flatMap((r) => r.tei.map((route) => route.path)))];
  const route = (name: string, path: string, kind: 'tei' | 'byBody') => byModel.get(name)![kind].find((r) => r.path === path);
  const missing = (name: string, path: string) =>
    new CoalesceError('not_found', `the model \`${name}\` has no route ${path}${path.includes('image') ? ' (it is not an image-text model)' : ''}`);
  const dispatched: JsonRoute[] = teiPaths.map((path) => ({
    path,
    style: 'tei',
    handle: (request) => {
      const { name } = models.get(request.header(MODEL_HEADER));
      const target = route(name, path, 'tei');
      if (!target) throw missing(name, path);
      return target.handle(request);
    },
  }));
  const prefixed = models.models.flatMap((m) =>
    byModel.get(m.name)!.tei.map((r) => ({ ...r, path: `${MODEL_PREFIX}${m.name}${r.path === '/' ? '' : r.path}` })),
  );
  const openai: JsonRoute[] = byModel.get(models.default.name)!.byBody.map(({ path, style }) => ({
    path,
    style,
    handle: (request) => {
      const asked = request.body.model;
      const name = models.size === 1 ? models.default.name : models.get(typeof asked === 'string' ? asked : undefined).name;
      return route(name, path, 'byBody')!.handle(request);
    },
  }));
  return [...dispatched, ...prefixed, ...openai];
}

/** Every POST route with a JSON body: TEI's, OpenAI's, Cohere's and, for image-text models, the image routes. */
export function jsonRoutes(deps: HttpDeps): JsonRoute[] {
  if (deps.models && deps.models.size > 1) return routesOfModels(deps.models);
  const { tei, byBody } = modelRoutes({
    name: deps.modelName,
    embedder: deps.embedder,
    images: deps.images,
    quantization: deps.quantization,
    promptNames: deps.promptNames,
  });
  return [...tei, ...byBody];
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
    {
      path: '/info',
      handle: async ({ header }) => {
        const asked = header(MODEL_HEADER);
        const model = asked ? modelsOf(deps).get(asked) : null;
        return jsonReply(await (model?.info ?? deps.info)());
      },
    },
    ...(deps.models && deps.models.size > 1
      ? deps.models.models.map((m) => ({ path: `${MODEL_PREFIX}${m.name}/info`, handle: async () => jsonReply(await (m.info ?? deps.info)()) }))
      : []),
    { path: '/metrics', handle: async () => ({ status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: await deps.metrics() }) },
  ];
}

/** Every route of the HTTP transport. */
export function httpRoutes(deps: HttpDeps): RouteTable {
  const post = jsonRoutes(deps);
  return {
    post,
    get: [
      ...serverRoutes(deps),
      ...openaiGetRoutes(modelsOf(deps).models.map((m) => ({ id: m.name, ...m.listing }))),
      ...docsRoutes(post),
      ...playgroundRoutes(),
    ],
  };
}
