/**
 * An HTTP thread's view of the facades: the same methods the routes call on the main thread,
 * each one a message to it. Errors come back as CoalesceErrors of the same kind, so the routes
 * answer exactly as they would beside the facades.
 */
import type { MessagePort } from 'node:worker_threads';
import { cancelled, CoalesceError, shuttingDown } from '../../../errors.js';
import type { HttpDeps, HttpModel, ImageFacade, TextFacade } from '../app.js';
import { ModelRegistry } from '../../../core/model-registry.js';
import type { CallMessage, CancelMessage, FacadeMethod, HttpThreadData, ReplyMessage } from './facade-protocol.js';
import { TurnOutbox } from '../../../workers/turn-outbox.js';
import type { CancelSignal } from '../../../core/cancellation.js';
import type { EmbedRequest } from '../../../core/embedder.js';
import { ArrivalEncoder } from '../../../preprocess/arrival-encoder.js';
import { QuantizationRanges } from '../../../core/quantization-ranges.js';

interface Pending {
  // biome-ignore lint/suspicious/noExplicitAny: one table holds the calls of every method, each resolved with its own result type
  resolve: (value: any) => void;
  reject: (error: Error) => void;
  signal?: CancelSignal;
  onAbort?: () => void;
}

export class FacadeClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  /** Calls and cancels of this event-loop turn, sent as one message (fewer messages for the main thread to take). */
  private readonly outbox = new TurnOutbox<CallMessage | CancelMessage>((batch) => {
    if (!this.closed) this.port.postMessage(batch);
  });

  /** Calls sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  constructor(private readonly port: MessagePort) {
    port.on('message', (replies: ReplyMessage[]) => {
      for (const m of replies) this.settle(m);
    });
    port.on('close', () => this.fail(shuttingDown()));
  }

  /** Calls `method`; a request (first argument) with a signal is cancelled on the main thread when it aborts. */
  call<T>(method: FacadeMethod, args: unknown[] = [], model?: string): Promise<T> {
    if (this.closed) return Promise.reject(shuttingDown());
    const [first, ...rest] = args;
    const signal = (first as { signal?: CancelSignal } | undefined)?.signal;
    if (signal?.aborted) return Promise.reject(cancelled());
    const id = this.nextId++;
    let sent = args;
    if (signal) {
      const { signal: _dropped, ...request } = first as { signal?: CancelSignal };
      sent = [request, ...rest];
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { resolve, reject, signal };
      if (signal) {
        entry.onAbort = () => this.outbox.push({ type: 'cancel', id });
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.pending.set(id, entry);
      this.outbox.push({ type: 'call', id, method, args: sent, cancellable: signal !== undefined, ...(model === undefined ? {} : { model }) });
    });
  }

  private settle(m: ReplyMessage): void {
    const entry = this.pending.get(m.id);
    if (!entry) return;
    this.pending.delete(m.id);
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort);
    if ('error' in m) entry.reject(new CoalesceError(m.error.kind, m.error.message, m.error.param));
    else entry.resolve(m.ok);
  }

  private fail(error: Error): void {
    this.closed = true;
    for (const entry of this.pending.values()) entry.reject(error);
    this.pending.clear();
  }
}

/** The request with its texts encoded here when the arrival encoder takes them all (arrival-encoder.ts). */
function encodedOnArrival(encoder: ArrivalEncoder | null, request: EmbedRequest): EmbedRequest {
  if (!encoder) return request;
  const started = performance.now();
  const texts = encoder.encodeAll(request.inputs);
  return texts ? { ...request, encoded: { texts, ms: performance.now() - started } } : request;
}

/** One model's facades on the main thread; `model` unset: the default one. `arrival` only for the default model (the one whose tokenizer the thread has). */
function remoteModel(
  client: FacadeClient,
  name: string,
  textInfo: TextFacade['info'],
  imageInfo: ImageFacade['info'] | null,
  arrival: ArrivalEncoder | null,
  model?: string,
): HttpModel {
  const embedder: TextFacade = {
    info: textInfo,
    embed: (request) => client.call('text.embed', [encodedOnArrival(arrival, request)], model),
    tokenize: (request) => client.call('text.tokenize', [request], model),
    decode: (ids, skipSpecialTokens) => client.call('text.decode', [ids, skipSpecialTokens], model),
    rerank: (request) => client.call('text.rerank', [request], model),
    predict: (request) => client.call('text.predict', [request], model),
    embedSparse: (request) => client.call('text.embedSparse', [request], model),
    embedAll: (request) => client.call('text.embedAll', [request], model),
  };
  const images: ImageFacade | null = imageInfo ? { info: imageInfo, embed: (request) => client.call('images.embed', [request], model) } : null;
  return {
    name,
    embedder,
    images: images ? { images, classifier: { classify: (request) => client.call('classifier.classify', [request], model) } } : undefined,
    info: model === undefined ? undefined : () => client.call<Record<string, unknown>>('model.info', [], model),
  };
}

/** HttpDeps whose facades live on the main thread. */
export function remoteDeps(client: FacadeClient, data: HttpThreadData): HttpDeps {
  const arrival = data.arrival ? ArrivalEncoder.fromSpec(data.arrival) : null;
  const { embedder, images } = remoteModel(client, data.modelName, data.textInfo, data.imageInfo, arrival);
  const models = data.models
    ? new ModelRegistry(
        data.models.map((m) => ({
          ...remoteModel(client, m.name, m.textInfo, m.imageInfo, m.name === data.modelName ? arrival : null, m.name),
          listing: m.listing,
        })),
        data.modelName,
      )
    : undefined;
  return {
    embedder,
    models,
    ready: () => client.call<boolean>('server.ready'),
    modelName: data.modelName,
    payloadLimit: data.payloadLimit,
    access: data.access,
    info: () => client.call<Record<string, unknown>>('server.info'),
    metrics: () => client.call<string>('server.metrics'),
    images,
    quantization: data.quantization ? new QuantizationRanges(data.quantization) : null,
    promptNames: data.promptNames,
  };
}
