import { Worker } from 'node:worker_threads';
import { CoalesceError } from '../../errors.js';
import type { Backend, Batch, BatchResult, ModelInfo } from '../../core/types.js';
import type { ModelManifest } from '../manifest.js';
import { ModelError } from '../model-error.js';
import type { EmbedMessage, FromWorker, SessionFacts, SessionSettings } from './protocol.js';

interface Pending {
  resolve(result: BatchResult): void;
  reject(error: Error): void;
}

/**
 * The main-thread face of the ORT session worker. It packs batches into flat buffers, transfers
 * them, and splits the flat result back into one vector per input.
 */
export class OrtBackend implements Backend {
  readonly maxConcurrentBatches = 1;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly info: ModelInfo,
  ) {
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`the model worker exited (code ${code})`)));
  }

  /** Starts the worker and loads the model; rejects with ModelError when the graph cannot be served. */
  static async start(id: string, manifest: ModelManifest, settings: SessionSettings): Promise<OrtBackend> {
    const worker = new Worker(new URL('./session-worker.js', import.meta.url));
    let onMessage: (m: FromWorker) => void = () => {};
    let onError: (e: Error) => void = () => {};
    const facts = await new Promise<SessionFacts>((resolve, reject) => {
      onMessage = (m: FromWorker) => {
        if (m.type === 'loaded') resolve(m.facts);
        else if (m.type === 'load-failed') reject(new ModelError(m.file, m.problem));
      };
      onError = reject;
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ type: 'load', manifest, settings });
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
    return new OrtBackend(worker, {
      id,
      dimensions: facts.dimensions,
      maxInputLength: manifest.maxLength,
      padded: true,
      pooling: facts.outputKind === 'pooled' ? 'in-graph' : manifest.pooling,
      normalizedByModel: false,
      device: settings.device,
      provider: facts.provider,
      onnxFile: manifest.onnxFile,
      inputNames: facts.inputNames,
      outputName: facts.outputName,
      outputKind: facts.outputKind,
    });
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
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(message, [ids.buffer, typeIds.buffer, lengths.buffer]);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private onMessage(m: FromWorker): void {
    if (m.type !== 'result' && m.type !== 'failed') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
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
