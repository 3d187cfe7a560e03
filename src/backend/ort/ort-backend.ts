import type { Worker } from 'node:worker_threads';
import type { StopIdle } from './worker-common.js';
import type { Backend, Batch, BatchResult, ModelInfo, WarmupState } from '../../core/types.js';
import type { ModelManifest } from '../../model-prep/manifest.js';
import { ModelError } from '../../model-prep/model-error.js';
import { prepareServingGraph, type GraphHead, type ServingGraph } from '../../onnx-graph/serving-graph.js';
import type { ModelKind } from '../../core/model-kind.js';

/** What each kind of model needs its graph to end in. */
const GRAPH_HEAD: Record<ModelKind, GraphHead> = {
  embedding: 'embedding',
  reranker: 'logits',
  classifier: 'logits',
  sparse: 'splade',
  'multi-vector': 'token-projection',
};
import type { EmbedMessage, FromWorker, SessionFacts, SessionSettings } from './protocol.js';
import { SessionThreads, startSessionWorker } from './session-threads.js';
import { startAll } from '../../workers/start-workers.js';
import { resolveSessions } from '../../settings.js';
import { processDeviceCallLock } from './device-call-lock.js';
import { isTakenAnswer, type SharedQueuePort } from '../../core/shared-queue/port.js';
import { isWorkerLost } from '../../workers/least-busy-pool.js';

/** Starts one session worker and waits for its model to load. */
function startWorker(manifest: ModelManifest, settings: SessionSettings, graph: ServingGraph): Promise<{ worker: Worker; facts: SessionFacts }> {
  return startSessionWorker<SessionFacts>(
    new URL('./session-worker.js', import.meta.url),
    'text-session',
    { type: 'load', manifest, settings, graph },
    (reply) => {
      const m = reply as FromWorker;
      if (m.type === 'loaded') return { facts: m.facts };
      if (m.type === 'load-failed') return { error: new ModelError(m.file, m.problem) };
      if (m.type === 'device-failed') return { error: new Error(m.problem) };
      return null;
    },
  );
}

/**
 * The main-thread face of the session workers: one or more threads of this process, each with
 * its own session on the same device (never another process). It packs batches into flat
 * buffers, transfers them to the least busy session, and splits the flat result back into one
 * vector per input.
 */
export class OrtBackend implements Backend {
  readonly maxConcurrentBatches: number;
  private readonly threads: SessionThreads;
  private readonly failureListeners: ((error: Error) => void)[] = [];
  /** Sessions take from the shared queue: a dead one is not replaced (its taken inputs cannot be given back). */
  private shared = false;
  private closing = false;

  private constructor(
    workers: Worker[],
    /** Loads a replacement session in a new thread, for one that died. */
    respawn: () => Promise<Worker>,
    readonly info: ModelInfo,
    /** Pooling was appended to the graph at load. */
    readonly pooledInGraph: boolean,
    /** Why --device auto fell back to the CPU, or why pooling stayed on the host. */
    readonly notes: string[],
    /** Bucket shapes each session ran at load (0 without shape buckets), and the slowest session's time. */
    readonly warmup: { shapes: number; ms: number },
    /** Bucket shapes in all, and each session's warm ones (more arrive while serving with --shape-warmup background). */
    private readonly shapesTotal: number,
    private readonly shapesDone: number[],
    /** The graph outputs token states besides the pooled vectors (tokenStates()). */
    private readonly hasTokenStates: boolean,
  ) {
    this.threads = new SessionThreads(workers, 'model', {
      respawn: () => (this.shared ? Promise.reject(new Error('sessions taking from the shared queue are not replaced')) : respawn()),
      onFail: (e) => this.failed(e),
    });
    this.maxConcurrentBatches = this.threads.size;
    workers.forEach((worker, i) =>
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'warmup-progress') this.shapesDone[i] = m.done;
      }),
    );
  }

  /**
   * Shape-bucket warm-up as /info shows it: 'off' without shape buckets, 'background' while some
   * session still warms shapes between batches, 'done' once every session ran every shape.
   */
  warmupState(): WarmupState {
    const done = Math.min(...this.shapesDone);
    const state = this.shapesTotal === 0 ? 'off' : done < this.shapesTotal ? 'background' : 'done';
    return { state, shapes_done: done, shapes_total: this.shapesTotal };
  }

  /** Calls `listener` once the backend can no longer serve (a session thread died and could not be replaced). */
  onFailure(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  private failed(error: Error): void {
    if (this.closing) return; // threads ending at close are no failure
    const listeners = this.failureListeners.splice(0);
    for (const listener of listeners) listener(error);
  }

  /** The session threads now, replacements included: diagnostics and fault-injection tests. */
  get workers(): Worker[] {
    return this.threads.workers;
  }

  /** The graph removes padding itself (packing mode), so batches cost their real tokens. */
  get removesPadding(): boolean {
    return !this.info.padded;
  }

  get sessions(): number {
    return this.threads.size;
  }

  /**
   * Appends pooling to the graph when it outputs token states, loads one session to learn the
   * device (for --device auto), then the others on that device. Rejects with ModelError when the
   * graph cannot be served, with a plain Error when the device cannot be used.
   */
  static async start(id: string, manifest: ModelManifest, given: SessionSettings): Promise<OrtBackend> {
    const settings: SessionSettings = { ...given, deviceLock: processDeviceCallLock() };
    const graph = prepareServingGraph(manifest.onnxPath, {
      pooling: manifest.pooling,
      poolInGraph: settings.poolInGraph ?? true,
      head: GRAPH_HEAD[manifest.kind],
      projection: manifest.projection,
    });
    const first = await startWorker(manifest, settings, graph);
    const { facts } = first;
    const count = resolveSessions(settings.sessions ?? 0, facts.provider);
    const resolved: SessionSettings = { ...settings, device: facts.device };
    const rest = await startAll(count - 1, () => startWorker(manifest, resolved, graph)).catch(async (e) => {
      await first.worker.terminate();
      throw e;
    });
    const started = [first, ...rest];
    const warmups = started.map((w) => w.facts.warmup);
    const workers = started.map((w) => w.worker);
    return new OrtBackend(
      workers,
      async () => (await startWorker(manifest, resolved, graph)).worker,
      {
        id,
        // A sparse model's vectors are as wide as its vocabulary; only their non-zeros leave the session.
        dimensions: manifest.kind === 'sparse' ? (manifest.vocabSize ?? facts.dimensions) : facts.dimensions,
        maxInputLength: manifest.maxLength,
        padded: !graph.removesPadding,
        pooling: manifest.kind === 'sparse' ? 'splade' : facts.outputKind === 'pooled' && !facts.pooledInGraph ? 'in-graph' : manifest.pooling,
        normalizedByModel: false,
        device: facts.device,
        provider: facts.provider,
        onnxFile: manifest.onnxFile,
        inputNames: facts.inputNames,
        outputName: facts.outputName,
        outputKind: facts.outputKind,
        kind: manifest.kind,
        labels: manifest.labels,
        problemType: manifest.problemType,
      },
      facts.pooledInGraph,
      facts.notes,
      { shapes: facts.warmup.shapes, ms: Math.max(...warmups.map((w) => w.ms)) },
      facts.warmup.total,
      warmups.map((w) => w.shapes),
      facts.tokenOutput !== null,
    );
  }

  /** A batch whose session thread died under it runs once more, on the thread that replaced it. */
  embed(batch: Batch): Promise<BatchResult> {
    return this.embedRetried(batch, false);
  }

  /**
   * This backend answering every input's token states (one vector per token, as TEI's /embed_all)
   * instead of its pooled vector, on the same sessions; null when the graph has no token states.
   */
  tokenStates(): (Backend & { close(): Promise<void> }) | null {
    if (!this.hasTokenStates) return null;
    return {
      info: this.info,
      maxConcurrentBatches: this.maxConcurrentBatches,
      embed: (batch) => this.embedRetried(batch, true),
      // The sessions are this backend's: it closes them.
      close: async () => {},
    };
  }

  private async embedRetried(batch: Batch, tokens: boolean): Promise<BatchResult> {
    try {
      return await this.embedOnce(batch, tokens);
    } catch (e) {
      if (!isWorkerLost(e)) throw e;
      return this.embedOnce(batch, tokens);
    }
  }

  private embedOnce(batch: Batch, tokens: boolean): Promise<BatchResult> {
    const lengths = new Uint32Array(batch.inputs.length);
    let total = 0;
    batch.inputs.forEach((input, i) => {
      lengths[i] = input.ids.length;
      total += input.ids.length;
    });
    const ids = new Uint32Array(total);
    const typeIds = new Uint8Array(total);
    let at = 0;
    for (const input of batch.inputs) {
      ids.set(input.ids, at);
      if (input.typeIds) typeIds.set(input.typeIds, at);
      at += input.ids.length;
    }
    const message: Omit<EmbedMessage, 'id'> = { type: 'embed', ids, typeIds, lengths, tokens };
    return this.threads.run(message, [ids.buffer, typeIds.buffer, lengths.buffer]);
  }

  /**
   * From now on the sessions take their batches from `queue` themselves (core/shared-queue) and
   * answer it; `embed` still works. A session thread that fails fails the queue, as it fails the calls in flight.
   */
  takeFrom(queue: SharedQueuePort): void {
    this.shared = true;
    const fail = (error: Error) => {
      queue.fail(error);
      this.failed(error);
    };
    for (const worker of this.workers) {
      worker.on('message', (m: unknown) => {
        if (isTakenAnswer(m)) queue.answer(m);
      });
      worker.on('error', (e) => fail(new Error(`a model worker failed: ${e.message}`)));
      worker.on('exit', (code) => fail(new Error(`a model worker exited (code ${code})`)));
      worker.postMessage(queue.order);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map(stopIdleWork));
    return this.threads.close();
  }
}

/**
 * Asks a session thread to stop warming shapes in the background and waits until the shape in
 * progress ran (terminating a thread inside session.run aborts the process); a thread that is gone
 * or does not answer in 10 s is not waited for.
 */
function stopIdleWork(worker: Worker): Promise<void> {
  return new Promise<void>((resolve) => {
    if (worker.threadId < 0) return resolve(); // exited already
    const done = () => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', done);
      resolve();
    };
    const onMessage = (m: { type?: string }) => {
      if (m?.type === 'idle-stopped') done();
    };
    const timer = setTimeout(done, 10_000);
    worker.on('message', onMessage);
    worker.once('exit', done);
    worker.postMessage({ type: 'stop-idle' } satisfies StopIdle);
  });
}
