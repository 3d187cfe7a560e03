import { Worker } from 'node:worker_threads';
import { CoalesceError } from '../../errors.js';
import type { Backend, Batch, BatchResult, ModelInfo } from '../../core/types.js';
import type { ModelManifest } from '../manifest.js';
import { ModelError } from '../model-error.js';
import { prepareServingGraph, type ServingGraph } from '../onnx/serving-graph.js';
import type { EmbedMessage, FromWorker, SessionFacts, SessionSettings } from './protocol.js';

interface Pending {
  resolve(result: BatchResult): void;
  reject(error: Error): void;
}

interface SessionThread {
  worker: Worker;
  busy: number;
}

/** Sessions when --sessions is 0: a second CUDA session uploads and launches while the first computes; on CPU one session already uses every core. */
export function defaultSessions(provider: string): number {
  return provider === 'cuda' ? 2 : 1;
}

/** Starts one session worker and waits for its model to load. */
async function startWorker(manifest: ModelManifest, settings: SessionSettings, graph: ServingGraph): Promise<{ worker: Worker; facts: SessionFacts }> {
  const worker = new Worker(new URL('./session-worker.js', import.meta.url));
  let onMessage: (m: FromWorker) => void = () => {};
  let onError: (e: Error) => void = () => {};
  const facts = await new Promise<SessionFacts>((resolve, reject) => {
    onMessage = (m: FromWorker) => {
      if (m.type === 'loaded') resolve(m.facts);
      else if (m.type === 'load-failed') reject(new ModelError(m.file, m.problem));
      else if (m.type === 'device-failed') reject(new Error(m.problem));
    };
    onError = reject;
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.postMessage({ type: 'load', manifest, settings, graph });
  })
    .catch(async (e) => {
      await worker.terminate();
      throw e;
    })
    .finally(() => {
      // Only our own listeners: removeAllListeners() would also drop the Worker's internal ones.
      worker.off('message', onMessage);
      worker.off('error', onError);
    });
  return { worker, facts };
}

/**
 * The main-thread face of the session workers: one or more threads of this process, each with
 * its own session on the same device (never another process). It packs batches into flat
 * buffers, transfers them to the least busy session, and splits the flat result back into one
 * vector per input.
 */
export class OrtBackend implements Backend {
  readonly maxConcurrentBatches: number;
  private nextId = 1;
  private readonly pending = new Map<number, Pending & { thread: SessionThread }>();
  private failure: Error | null = null;
  private readonly threads: SessionThread[];

  private constructor(
    workers: Worker[],
    readonly info: ModelInfo,
    /** Pooling was appended to the graph at load. */
    readonly pooledInGraph: boolean,
    /** Why --device auto fell back to the CPU, or why pooling stayed on the host. */
    readonly notes: string[],
    /** Bucket shapes each session ran at load (0 without shape buckets), and the slowest session's time. */
    readonly warmup: { shapes: number; ms: number },
  ) {
    this.threads = workers.map((worker) => ({ worker, busy: 0 }));
    this.maxConcurrentBatches = this.threads.length;
    for (const t of this.threads) {
      t.worker.on('message', (m: FromWorker) => this.onMessage(m));
      t.worker.on('error', (e) => this.fail(e));
      t.worker.on('exit', (code) => this.fail(new Error(`a model worker exited (code ${code})`)));
    }
  }

  get sessions(): number {
    return this.threads.length;
  }

  /**
   * Appends pooling to the graph when it outputs token states, loads one session to learn the
   * device (for --device auto), then the others on that device. Rejects with ModelError when the
   * graph cannot be served, with a plain Error when the device cannot be used.
   */
  static async start(id: string, manifest: ModelManifest, settings: SessionSettings): Promise<OrtBackend> {
    const graph = prepareServingGraph(manifest.onnxPath, { pooling: manifest.pooling, poolInGraph: settings.poolInGraph ?? true });
    const first = await startWorker(manifest, settings, graph);
    const { facts } = first;
    const count = settings.sessions && settings.sessions > 0 ? settings.sessions : defaultSessions(facts.provider);
    const resolved: SessionSettings = { ...settings, device: facts.device };
    const rest = await Promise.allSettled(Array.from({ length: count - 1 }, () => startWorker(manifest, resolved, graph)));
    const warmups = [first, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))].map((w) => w.facts.warmup ?? { shapes: 0, ms: 0 });
    const workers = [first.worker, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value.worker] : []))];
    const failed = rest.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw (failed as PromiseRejectedResult).reason;
    }
    return new OrtBackend(
      workers,
      {
        id,
        dimensions: facts.dimensions,
        maxInputLength: manifest.maxLength,
        padded: true,
        pooling: facts.outputKind === 'pooled' && !facts.pooledInGraph ? 'in-graph' : manifest.pooling,
        normalizedByModel: false,
        device: facts.device,
        provider: facts.provider,
        onnxFile: manifest.onnxFile,
        inputNames: facts.inputNames,
        outputName: facts.outputName,
        outputKind: facts.outputKind,
      },
      facts.pooledInGraph,
      facts.notes,
      { shapes: facts.warmup?.shapes ?? 0, ms: Math.max(...warmups.map((w) => w.ms)) },
    );
  }

  embed(batch: Batch): Promise<BatchResult> {
    if (this.failure) return Promise.reject(new CoalesceError('unhealthy', this.failure.message));
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
    const id = this.nextId++;
    const message: EmbedMessage = { type: 'embed', id, ids, typeIds, lengths };
    let thread = this.threads[0];
    for (const t of this.threads) if (t.busy < thread.busy) thread = t;
    thread.busy++;
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, thread });
      thread.worker.postMessage(message, [ids.buffer, typeIds.buffer, lengths.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private onMessage(m: FromWorker): void {
    if (m.type !== 'result' && m.type !== 'failed') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.thread.busy--;
    if (m.type === 'failed') {
      p.reject(new CoalesceError('backend', `model call failed: ${m.message}`));
      return;
    }
    const count = m.vectors.length / m.dimensions;
    const out: Float32Array[] = [];
    for (let i = 0; i < count; i++) out.push(m.vectors.subarray(i * m.dimensions, (i + 1) * m.dimensions));
    p.resolve(out);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const p of this.pending.values()) p.reject(new CoalesceError('unhealthy', error.message));
    this.pending.clear();
  }
}
