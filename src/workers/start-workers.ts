import { Worker } from 'node:worker_threads';

/**
 * The operating system's name of each kind of thread the server starts (Worker's `name`: what
 * `top -H`, `ps -L` and /proc/<pid>/task/<tid>/comm show, at most 15 characters). Native threads a
 * thread starts, ONNX Runtime's intra-op pool for one, take its name.
 */
export type ThreadName = 'http' | 'text-session' | 'tokenizer' | 'image-decode' | 'image-session';

/** Starts `count` workers; if any fails, stops the others and rethrows its error, so none is left running. */
export async function startAll<T extends { worker: Worker }>(count: number, start: () => Promise<T>): Promise<T[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, start));
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((w) => w.worker.terminate()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return ok;
}

export interface ReadyWorker {
  worker: Worker;
  /** The worker's first message, which says it is ready (it may tell what it loaded). */
  ready: unknown;
}

/** A worker whose first message says it is ready (its script loaded what it needs). */
async function startReadyWorker(url: URL, workerData: unknown, name: ThreadName): Promise<ReadyWorker> {
  const worker = new Worker(url, { workerData, name });
  const ready = await new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, ready };
}

/** `count` workers of `url`, each ready (see startReadyWorker), or none (startAll). */
export function startReadyWorkers(count: number, url: URL, workerData: unknown, name: ThreadName): Promise<ReadyWorker[]> {
  return startAll(count, () => startReadyWorker(url, workerData, name));
}
