/**
 * The composition root: config -> models (each: files -> backend per device group (warm-up) ->
 * batch queue -> embedder) -> transports. One process; several models and several devices are
 * threads and sessions of it, never forks. Loading one model is src/serving/load-model.ts.
 */
import type { Config } from './config.js';
import { Admission } from './core/admission.js';
import type { Embedder } from './core/embedder.js';
import { ModelRegistry } from './core/model-registry.js';
import type { Backend } from './core/types.js';
import type { ImageServing } from './image-serving.js';
import type { Logger } from './log.js';
import { ApiKeys } from './transport/api-keys.js';
import { Metrics } from './metrics.js';
import type { HttpDeps, HttpModel } from './transport/http/app.js';
import { httpWhere, serveHttp, type HttpServing } from './transport/http/serve.js';
import { hostPort, reachableHostPort } from './transport/host-port.js';
import { startGrpcServer, type GrpcServer } from './transport/grpc/server.js';
import type { GrpcModel } from './transport/grpc/deps.js';
import { servedModels } from './serving/model-spec.js';
import { prepareModel, startModel, type PreparedModel, type ServedModel } from './serving/load-model.js';
import { checkMemoryBudget, parseBytes } from './serving/device-memory.js';
import { releaseHeapWhenIdle, type HeapRelease } from './idle-heap-release.js';

export interface Coalesce {
  /** The default model's facade, backend and image path. */
  embedder: Embedder;
  backend: Backend;
  httpUrl: string;
  httpPort: number;
  /** host:port of the gRPC server; null with --grpc-port -1. */
  grpcUrl: string | null;
  grpcPort: number | null;
  metrics: Metrics;
  /** The image path of an image-text model (CLIP, SigLIP); null for text models. */
  images: ImageServing | null;
  /** Every served model by name; `default` is the one above. */
  models: ModelRegistry<ServedModel>;
  /** Starts draining: /health answers 503 and gRPC health NOT_SERVING, while requests are still served. */
  drain(): void;
  /** Stops taking requests, finishes what was admitted, then releases the models. */
  close(): Promise<void>;
}

/** Loads the models one after another (each one's memory is then measured alone); a failure releases those already loaded. */
async function loadModels(
  prepared: readonly PreparedModel[],
  defaultName: string,
  admission: Admission,
  metrics: Metrics,
  config: Config,
  log: Logger,
): Promise<ServedModel[]> {
  const loaded: ServedModel[] = [];
  try {
    for (const p of prepared) {
      const isDefault = p.spec.name === defaultName;
      loaded.push(await startModel(p, { admission, metrics: metrics.forModel(p.spec.name), log, http: httpWhere(config.httpThreads), isDefault }));
    }
    return loaded;
  } catch (e) {
    for (const m of loaded) await m.close();
    throw e;
  }
}

export async function startCoalesce(config: Config, log: Logger): Promise<Coalesce> {
  const { models: specs, defaultName } = servedModels(config);
  const prepared: PreparedModel[] = [];
  for (const spec of specs) prepared.push(await prepareModel(spec, log));
  if (config.maxDeviceMemory)
    checkMemoryBudget(
      prepared.flatMap((p) => p.placements),
      parseBytes(config.maxDeviceMemory),
    );

  const metrics = new Metrics({ labelled: specs.length > 1 });
  if (config.eventLoopMetrics) metrics.watchEventLoop();
  const admission = new Admission(config.maxConcurrentRequests);
  const served = await loadModels(prepared, defaultName, admission, metrics, config, log).catch((e) => {
    metrics.stop();
    throw e;
  });
  const models = new ModelRegistry(served, defaultName);
  const main = models.default;
  if (models.size > 1) log('models', { default: defaultName, models: served.map((m) => m.summary()) });
  const releaseModels = async () => {
    for (const m of served) await m.close();
    metrics.stop();
  };

  let draining = false;
  // /health means every transport serves: not before gRPC listens, never after an HTTP thread died.
  let listening = false;
  let broken = false;
  let grpc: GrpcServer | null = null;
  const several = models.size > 1;
  /** /info: the default model's (TEI's fields, so TEI clients keep working), with every model listed. */
  const info = () => ({ ...main.info(), models: served.map((m) => m.summary()) });
  const listing = (m: ServedModel) => {
    const { name: _name, ...facts } = m.summary();
    return facts;
  };
  const httpModel = (m: ServedModel): HttpModel => ({
    name: m.name,
    embedder: m.embedder,
    images: m.images ? { images: m.images.images, classifier: m.images.classifier } : undefined,
    info: m.info,
    listing: listing(m),
    quantization: m.quantization,
    promptNames: m.promptNames,
  });
  const httpDeps: HttpDeps = {
    access: { apiKeys: ApiKeys.parse(config.apiKey), protectMetrics: config.apiKeyMetrics, corsOrigins: ApiKeys.parse(config.corsAllowOrigin) },
    images: main.images ? { images: main.images.images, classifier: main.images.classifier } : undefined,
    embedder: main.embedder,
    ready: () => !draining && listening && !broken && served.every((m) => m.ready()),
    modelName: main.name,
    payloadLimit: config.payloadLimit,
    metrics: () => metrics.render(),
    info: several ? info : main.info,
    models: several ? new ModelRegistry(served.map(httpModel), defaultName) : undefined,
    quantization: main.quantization,
    promptNames: main.promptNames,
  };
  const http: HttpServing = await serveHttp(httpDeps, {
    hostname: config.hostname,
    port: config.port,
    path: config.udsPath,
    mode: config.udsMode,
    threads: config.httpThreads,
    onThreadError: (e) => {
      log('an HTTP thread failed', { error: e.message });
      broken = true;
      grpc?.drain(); // gRPC health NOT_SERVING too: the server no longer serves everything it should
    },
    arrival: config.httpThreads > 0 ? main.arrival : null,
    idleHeapReleaseMs: config.idleHeapReleaseMs,
  }).catch(async (e: Error) => {
    await releaseModels();
    throw new Error(`cannot serve HTTP on ${config.udsPath ?? `${config.hostname}:${config.port}`}: ${e.message}`);
  });
  const port = http.port;
  const httpUrl = config.udsPath ? `unix:${config.udsPath}` : `http://${reachableHostPort(config.hostname, port)}`;

  if (config.grpcUdsPath || config.grpcPort >= 0) {
    const grpcModels = new ModelRegistry<GrpcModel>(
      served.map((m) => ({ name: m.name, embedder: m.embedder, info: m.info, quantization: m.quantization })),
      defaultName,
    );
    grpc = await startGrpcServer(
      {
        embedder: main.embedder,
        info: several ? info : main.info,
        payloadLimit: config.payloadLimit,
        apiKeys: ApiKeys.parse(config.apiKey),
        quantization: main.quantization,
        models: grpcModels,
        readiness: several
          ? {
              get isReady() {
                return served.every((m) => m.embedder.isReady);
              },
              onReadyChange: (listener) => {
                const off = served.map((m) => m.embedder.onReadyChange(listener));
                return () => off.forEach((o) => o());
              },
            }
          : undefined,
      },
      config.hostname,
      config.grpcPort,
      config.grpcUdsPath ? { path: config.grpcUdsPath, mode: config.udsMode } : undefined,
    ).catch(async (e: Error) => {
      await http.close();
      await releaseModels();
      throw new Error(`cannot serve gRPC on ${config.grpcUdsPath ?? `${config.hostname}:${config.grpcPort}`}: ${e.message} (--grpc-port -1 turns gRPC off)`);
    });
  }
  // What is bound (0.0.0.0 stays 0.0.0.0); httpUrl / grpcUrl are where a client here connects.
  listening = true;
  log('listening', {
    http: config.udsPath ? httpUrl : `http://${hostPort(config.hostname, port)}`,
    grpc: grpc ? (config.grpcUdsPath ? grpc.url : hostPort(config.hostname, grpc.port)) : 'off',
    httpThreads: config.httpThreads,
  });

  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  const stopHeapRelease = releaseHeapWhenIdle({
    idleMs: config.idleHeapReleaseMs,
    busy: () => admission.inUse > 0,
    onRelease: (r: HeapRelease) =>
      log('released idle JavaScript heap', { thread: 'main', heapMb: `${mb(r.beforeBytes)} -> ${mb(r.afterBytes)}`, ms: Math.round(r.ms) }),
  });

  let closing: Promise<void> | null = null;
  return {
    embedder: main.embedder,
    backend: main.backend,
    httpUrl,
    httpPort: port,
    grpcUrl: grpc?.url ?? null,
    grpcPort: grpc?.port ?? null,
    metrics,
    images: main.images,
    models,
    drain: () => {
      draining = true;
      http.drain();
      grpc?.drain();
    },
    // The listeners close first and every request already on a connection is still admitted and
    // answered; only then do the facades stop admitting, so nothing that reached the server is refused.
    close: () =>
      (closing ??= (async () => {
        draining = true;
        stopHeapRelease();
        http.drain();
        await Promise.all([http.close(), grpc?.close(config.shutdownTimeoutMs)]);
        await Promise.all(served.map((m) => m.drain()));
        await releaseModels();
      })()),
  };
}
