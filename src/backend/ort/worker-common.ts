/**
 * What every session worker thread (text and vision) shares: its session options, and the loop
 * that answers batches one at a time with a transferred Float32Array.
 */
import { parentPort } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import type { BatchReply } from './session-threads.js';
import { l2NormalizeRows } from '../../core/postprocess.js';
import { float16ToFloat32 } from './tensors.js';

/** --shape-buckets on this device: 'on', or 'auto' on CUDA (where every new shape costs a slow first run). */
export function shapeBucketsOn(mode: string | undefined, onCuda: boolean): boolean {
  return mode === 'on' || (mode === 'auto' && onCuda);
}

export function sessionOptions(
  executionProviders: ort.InferenceSession.ExecutionProviderConfig[],
  intraOpThreads: number,
  extra: Partial<ort.InferenceSession.SessionOptions> = {},
): ort.InferenceSession.SessionOptions {
  const onCuda = executionProviders.some((p) => p !== 'cpu');
  return {
    executionProviders,
    graphOptimizationLevel: 'all',
    // On CUDA the CPU only runs shape arithmetic: one thread, so no spinning pool steals cores
    // from the event loop, the tokenizers and the image decoders.
    ...(onCuda ? { intraOpNumThreads: 1, interOpNumThreads: 1 } : intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
    // ORT's pool threads busy-wait between and after parallel sections by default: in a server
    // they spin on the cores the event loop (HTTP, tokenization) needs. On 2 shared cores the
    // session's CPU per text halved without spinning, and throughput rose (bench/cpu-bench.ts).
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    ...extra,
  };
}

/** A batch's flat [B, D] output; `normalized` when the graph also gave it L2-normalized. */
export interface RunOutput {
  vectors: Float32Array;
  normalized?: Float32Array;
  dimensions: number;
}

/**
 * The first `count` rows of a pooled [rows, D] output as float32 (float16 widened): rows past
 * `count` are filler (shape buckets). Throws when the output is not [rows, D].
 */
export function pooledRows(out: ort.Tensor, name: string, rows: number, count: number): { rows: Float32Array; dimensions: number } {
  const dims = out.dims;
  if (dims.length !== 2 || dims[0] !== rows) throw new Error(`output ${name} has shape [${dims}], expected [${rows}, D]`);
  const data = out.type === 'float16' ? float16ToFloat32(out.data as Uint16Array) : (out.data as Float32Array);
  return { rows: rows === count ? data : data.subarray(0, count * dims[1]), dimensions: dims[1] };
}

/** ORT may hand back a view of a larger buffer; copy only then, so the transfer is exact. */
function owned(v: Float32Array): Float32Array {
  return v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : v.slice();
}

/**
 * Handles the thread's messages strictly one at a time (a session runs one batch at once): load
 * requests go to `onLoad`, batches to `run`, whose vectors go back transferred, raw and
 * L2-normalized. Normalizing here, when the graph did not, keeps that arithmetic off the main
 * thread, which serves every request.
 */
export function serveBatches<L extends { type: 'load' }, B extends { type: 'embed'; id: number }>(
  onLoad: (message: L) => Promise<void>,
  run: (message: B) => Promise<RunOutput>,
): void {
  const port = parentPort!;
  const answer = async (message: B): Promise<void> => {
    const started = performance.now();
    try {
      const out = await run(message);
      const vectors = owned(out.vectors);
      const normalized = out.normalized ? owned(out.normalized) : l2NormalizeRows(vectors, out.dimensions);
      const sessionMs = performance.now() - started;
      const reply: BatchReply = { type: 'result', id: message.id, vectors, normalized, dimensions: out.dimensions, sessionMs };
      port.postMessage(reply, [vectors.buffer as ArrayBuffer, normalized.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ type: 'failed', id: message.id, message: (e as Error).message } satisfies BatchReply);
    }
  };
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (message: L | B) => {
    chain = chain.then(() => (message.type === 'load' ? onLoad(message as L) : answer(message as B)));
  });
}
