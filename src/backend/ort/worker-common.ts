/**
 * What every session worker thread (text and vision) shares: its session options, and the loop
 * that answers batches one at a time with a transferred Float32Array.
 */
import { parentPort } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import type { BatchReply } from './session-threads.js';
import { float16ToFloat32 } from './tensors.js';
import type { TakenBatch, TakeOrder } from '../../core/shared-queue/port.js';
import { takeBatches } from './take-loop.js';
import { replyVectors, type RunOutput } from './reply-vectors.js';
import { transferable } from '../../workers/transferable.js';

export type { RunOutput } from './reply-vectors.js';

/** Main thread -> session thread before it is terminated: stop background work; answered with IdleStopped. */
export interface StopIdle {
  type: 'stop-idle';
}
export interface IdleStopped {
  type: 'idle-stopped';
}

export function sessionOptions(
  executionProviders: ort.InferenceSession.ExecutionProviderConfig[],
  /** Resolved (settings.ts resolveIntraOpThreads): null leaves ONNX Runtime's default. */
  intraOpThreads: number | null,
  extra: Partial<ort.InferenceSession.SessionOptions> = {},
): ort.InferenceSession.SessionOptions {
  const onCuda = executionProviders.some((p) => p !== 'cpu');
  return {
    executionProviders,
    graphOptimizationLevel: 'all',
    ...(intraOpThreads !== null ? { intraOpNumThreads: intraOpThreads } : {}),
    ...(onCuda ? { interOpNumThreads: 1 } : {}),
    // ORT's pool threads busy-wait between and after parallel sections by default: in a server
    // they spin on the cores the event loop (HTTP, tokenization) needs. On 2 shared cores the
    // session's CPU per text halved without spinning, and throughput rose (bench/cpu-bench.ts).
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    ...extra,
  };
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

/**
 * Handles the thread's messages strictly one at a time (a session runs one batch at once): load
 * requests go to `onLoad`, batches to `run`, whose vectors go back transferred (replyVectors).
 * With `runTaken`, a take order makes the thread take its batches from the shared text queue
 * from then on (take-loop.ts). `idle` (background work, e.g. warming one more shape) runs one
 * step at a time whenever no message waits, until it answers false: a batch arriving meanwhile
 * waits for at most one step.
 */
export function serveBatches<L extends { type: 'load' }, B extends { type: 'embed'; id: number }>(
  onLoad: (message: L) => Promise<void>,
  run: (message: B) => Promise<RunOutput>,
  runTaken?: (batch: TakenBatch) => Promise<RunOutput>,
  idle?: () => Promise<boolean>,
  /** Before the thread is terminated: release what thread exit would not (memory the C API holds). */
  onStop?: () => void,
): void {
  const port = parentPort!;
  const answer = async (message: B): Promise<void> => {
    const started = performance.now();
    try {
      const { vectors, normalized, offsets, dimensions, transfer } = replyVectors(await run(message));
      const sessionMs = performance.now() - started;
      port.postMessage({ type: 'result', id: message.id, vectors, normalized, offsets, dimensions, sessionMs } satisfies BatchReply, transferable(transfer));
    } catch (e) {
      port.postMessage({ type: 'failed', id: message.id, message: (e as Error).message } satisfies BatchReply);
    }
  };
  let chain: Promise<void> = Promise.resolve();
  let queued = 0;
  let taking = false;
  // A 'stop-idle' message ends the idle work and is answered once the step in progress ended:
  // terminating a thread inside session.run aborts the whole process.
  let stopped = false;
  let idleStep: Promise<unknown> = Promise.resolve();
  const idleOnce = idle
    ? (): Promise<boolean> => {
        if (stopped) return Promise.resolve(false);
        const step = idle();
        idleStep = step.catch(() => {});
        return step;
      }
    : undefined;
  let idleLeft = idle !== undefined;
  let idleScheduled = false;
  const enqueue = (work: () => Promise<void>) => {
    queued++;
    chain = chain.then(work).finally(() => {
      queued--;
      kickIdle();
    });
  };
  const kickIdle = () => {
    if (!idle || !idleLeft || taking || queued > 0 || idleScheduled) return;
    idleScheduled = true;
    // On the next turn: messages already delivered go on the chain before the idle step.
    setImmediate(() => {
      idleScheduled = false;
      if (!idleLeft || taking || queued > 0) return;
      enqueue(async () => {
        idleLeft = await idleOnce!();
      });
    });
  };
  port.on('message', (message: L | B | TakeOrder | StopIdle) => {
    if (message.type === 'stop-idle') {
      stopped = true;
      void idleStep.then(() => {
        onStop?.();
        port.postMessage({ type: 'idle-stopped' } satisfies IdleStopped);
      });
      return;
    }
    if (message.type === 'take') {
      taking = true;
      if (runTaken) void chain.then(() => takeBatches(message as TakeOrder, runTaken, idleLeft ? idleOnce : undefined));
      return;
    }
    enqueue(() => (message.type === 'load' ? onLoad(message as L) : answer(message as B)));
  });
}
