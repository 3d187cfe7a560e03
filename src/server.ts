/**
 * The composition root: config -> model -> backend (warm-up) -> batch queue -> embedder -> transports.
 * One process, one model copy; concurrency comes from batching, never from forking.
 */
import type { Config } from './config.js';
import { resolveModelFiles, resolveSettings, resolveTokenizationWorkers } from './settings.js';
import { batchHook } from './batch-log.js';
import { Batcher } from './core/batcher.js';
import { SharedTextQueue } from './core/shared-queue/shared-text-queue.js';
import { Embedder } from './core/embedder.js';
import type { Backend } from './core/types.js';
import { readManifest } from './model-prep/manifest.js';
import { readModelPrompts } from './model-prep/st-prompts.js';
import { Prompts } from './core/prompts.js';
import { isVisionLanguageFolder, prepareVisionLanguage } from './model-prep/vision-language.js';
import { startImageServing, type ImageServing } from './image-serving.js';
import { OrtBackend } from './backend/ort/ort-backend.js';
import type { Logger } from './log.js';
import { onInternalError } from './errors.js';
import { ApiKeys } from './transport/api-keys.js';
import { Metrics } from './metrics.js';
import { resolveModelDir } from './models/resolve.js';
import { HfTokenizer, InlineTextEncoder } from './preprocess/tokenizer.js';
import { TokenizerPool } from './preprocess/tokenizer-pool.js';
import type { HttpDeps } from './transport/http/app.js';
import { httpWhere, serveHttp, type HttpServing } from './transport/http/serve.js';
import { hostPort, reachableHostPort } from './transport/host-port.js';
import { startGrpcServer, type GrpcServer } from './transport/grpc/server.js';
import { modelInfo, servedModelName } from './model-info.js';

export interface Coalesce {
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
  /** Starts draining: /health answers 503 and gRPC health NOT_SERVING, while requests are still served. */
  drain(): void;
  /** Stops taking requests, finishes what was admitted, then releases the model. */
  close(): Promise<void>;
}

const WARM_UP_TEXTS = ['Coalesce warms up the model before it reports healthy.'];

export async function startCoalesce(config: Config, log: Logger): Promise<Coalesce> {
  const { dir, id } = await resolveModelDir(config, log);
  // An image-text model: the text path serves its text tower (a graph whose one output is text_embeds).
  const isVl = isVisionLanguageFolder(dir);
  const files = resolveModelFiles(config, isVl);
  const vl = isVl ? await prepareVisionLanguage(dir, { variant: files.onnxVariant, onnxFile: files.onnxFile, fuseAttention: config.fuseAttention }) : null;
  const textManifest = readManifest(dir, { onnxFile: vl ? vl.textFile : files.onnxFile, pooling: config.pooling, maxInputLength: config.maxInputLength });
  const manifest = vl ? { ...textManifest, onnxPath: vl.textGraphPath, onnxFile: vl.textSource } : textManifest;
  if (config.maxBatchTokens < manifest.maxLength) {
    throw new Error(`--max-batch-tokens ${config.maxBatchTokens} is below the max input length ${manifest.maxLength}: a full-length input could never run`);
  }
  const modelPrompts = readModelPrompts(dir);
  const prompts = Prompts.from({
    prompts: modelPrompts.prompts,
    modelDefaultPromptName: modelPrompts.defaultPromptName,
    defaultPromptName: config.defaultPromptName,
    defaultPrompt: config.defaultPrompt,
  });
  const tokenizerFiles = { tokenizerPath: manifest.tokenizerPath, configPath: manifest.tokenizerConfigPath, maxLength: manifest.maxLength };
  const tokenizationWorkers = resolveTokenizationWorkers(config.tokenizationWorkers);
  const encoder: TokenizerPool | InlineTextEncoder =
    tokenizationWorkers > 0
      ? await TokenizerPool.start(tokenizerFiles, tokenizationWorkers)
      : new InlineTextEncoder(HfTokenizer.fromFiles(tokenizerFiles.tokenizerPath, tokenizerFiles.configPath, tokenizerFiles.maxLength));
  // HTTP threads encode plain ASCII text for a BERT tokenizer themselves (arrival-encoder.ts) with these.
  const specialIds = encoder.specialIds();

  const loadStart = performance.now();
  const backend = await OrtBackend.start(id, manifest, {
    device: config.device,
    intraOpThreads: config.intraOpThreads,
    sessions: config.sessions,
    poolInGraph: config.poolInGraph,
    seqMultiple: config.padSeqMultiple,
    batchMultiple: config.padBatchMultiple,
    memPattern: config.memPattern,
    shapeBuckets: config.shapeBuckets,
    warmupTokens: config.maxBatchTokens,
    warmupRows: config.maxBatchRequests,
  }).catch(async (e: unknown) => {
    await encoder.close();
    throw e;
  });
  const info = backend.info;
  for (const note of backend.notes) log(note);
  log('model loaded', {
    model: id,
    dir,
    onnx: info.onnxFile,
    device: info.device,
    provider: info.provider,
    sessions: backend.sessions,
    dimensions: info.dimensions,
    maxInputLength: info.maxInputLength,
    pooling: info.pooling,
    poolingInGraph: backend.pooledInGraph,
    paddingRemovedInGraph: backend.removesPadding,
    warmedShapes: backend.warmup.shapes,
    warmupMs: Math.round(backend.warmup.ms),
    output: info.outputName,
    ms: Math.round(performance.now() - loadStart),
  });

  const metrics = new Metrics();
  if (config.eventLoopMetrics) metrics.watchEventLoop();
  const limits = {
    maxBatchTokens: config.maxBatchTokens,
    maxBatchRequests: config.maxBatchRequests,
    onBatch: batchHook(metrics.observeBatch, config.logBatches ? log : null, 'text'),
  };
  const settings = resolveSettings(config, { provider: info.provider === 'cuda' ? 'cuda' : 'cpu', modelMaxLength: info.maxInputLength });
  const sharedQueue = settings.batchQueue === 'shared';
  const queue = sharedQueue ? new SharedTextQueue(info.maxInputLength, info.padded, limits) : new Batcher(backend, limits);
  if (queue instanceof SharedTextQueue) backend.takeFrom(queue);
  const embedder = new Embedder(
    info,
    encoder,
    queue,
    { maxClientBatchSize: config.maxClientBatchSize, autoTruncate: config.autoTruncate, prompts, queueTimeoutMs: config.queueTimeoutMs },
    config.maxConcurrentRequests,
    metrics.requestObserver,
  );
  // A session thread that died and could not be replaced: /health and gRPC health say so.
  backend.onFailure((e) => {
    log('the model can no longer serve', { error: e.message });
    embedder.markReady(false);
  });
  metrics.gauge('te_queue_size', 'Inputs waiting for a model call', () => queue.queued);
  metrics.gauge('te_requests_in_progress', 'Admitted requests', () => embedder.admission.inUse);

  let images: ImageServing | null = null;
  /** Nothing may outlive a failed start or a close: the tokenizer workers, the image path, the model. */
  const releaseModel = async () => {
    embedder.markReady(false);
    await encoder.close();
    await images?.close();
    await backend.close();
    metrics.stop();
  };
  const failStart = async (e: unknown): Promise<never> => {
    await releaseModel();
    throw e;
  };

  // Warm-up through the whole path: /health turns 200 only after a real model call succeeded.
  embedder.markReady(true);
  await embedder.embed({ inputs: WARM_UP_TEXTS, normalize: true }).catch(failStart);

  images = vl ? await startImageServing(vl, config, { backend, embedder }, metrics, log).catch(failStart) : null;

  let draining = false;
  // /health means every transport serves: not before gRPC listens, never after an HTTP thread died.
  let listening = false;
  let broken = false;
  let grpc: GrpcServer | null = null;
  const modelName = servedModelName(config, id);
  const served = modelInfo({
    config,
    id,
    dir,
    model: info,
    pooling: vl ? info.pooling : manifest.pooling,
    prompts: prompts.prompts,
    batchQueue: sharedQueue ? 'shared' : 'main',
    images,
    http: httpWhere(config.httpThreads),
    settings,
    backend: { sessions: backend.sessions, removesPadding: backend.removesPadding },
  });
  const httpDeps: HttpDeps = {
    access: { apiKeys: ApiKeys.parse(config.apiKey), protectMetrics: config.apiKeyMetrics, corsOrigins: ApiKeys.parse(config.corsAllowOrigin) },
    images: images ? { images: images.images, classifier: images.classifier } : undefined,
    embedder,
    ready: () => embedder.isReady && !draining && listening && !broken,
    modelName,
    payloadLimit: config.payloadLimit,
    metrics: () => metrics.render(),
    info: served,
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
    arrival: config.httpThreads > 0 && specialIds ? { ...tokenizerFiles, ...specialIds } : null,
  }).catch(async (e: Error) => {
    await releaseModel();
    throw new Error(`cannot serve HTTP on ${config.udsPath ?? `${config.hostname}:${config.port}`}: ${e.message}`);
  });
  const port = http.port;
  const httpUrl = config.udsPath ? `unix:${config.udsPath}` : `http://${reachableHostPort(config.hostname, port)}`;

  if (config.grpcUdsPath || config.grpcPort >= 0) {
    grpc = await startGrpcServer(
      { embedder, info: served, payloadLimit: config.payloadLimit, apiKeys: ApiKeys.parse(config.apiKey) },
      config.hostname,
      config.grpcPort,
      config.grpcUdsPath ? { path: config.grpcUdsPath, mode: config.udsMode } : undefined,
    ).catch(async (e: Error) => {
      await http.close();
      await releaseModel();
      throw new Error(`cannot serve gRPC on ${config.grpcUdsPath ?? `${config.hostname}:${config.grpcPort}`}: ${e.message} (--grpc-port -1 turns gRPC off)`);
    });
  }
  listening = true;
  // What is bound (0.0.0.0 stays 0.0.0.0); httpUrl / grpcUrl are where a client here connects.
  log('listening', {
    http: config.udsPath ? httpUrl : `http://${hostPort(config.hostname, port)}`,
    grpc: grpc ? (config.grpcUdsPath ? grpc.url : hostPort(config.hostname, grpc.port)) : 'off',
    httpThreads: config.httpThreads,
  });

  let closing: Promise<void> | null = null;
  return {
    embedder,
    backend,
    httpUrl,
    httpPort: port,
    grpcUrl: grpc?.url ?? null,
    grpcPort: grpc?.port ?? null,
    metrics,
    images,
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
        http.drain();
        await Promise.all([http.close(), grpc?.close(config.shutdownTimeoutMs)]);
        await images?.drain();
        await embedder.drain();
        await releaseModel();
      })()),
  };
}
