import { Worker } from 'node:worker_threads';

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

/** A worker whose first message says it is ready (its script loaded what it needs). */
async function startReadyWorker(url: URL, workerData: unknown): Promise<{ worker: Worker }> {
  const worker = new Worker(url, { workerData });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return { worker };
}

/** `count` workers of `url`, each ready (see startReadyWorker), or none (startAll). */
export async function startReadyWorkers(count: number, url: URL, workerData: unknown): Promise<Worker[]> {
  return (await startAll(count, () => startReadyWorker(url, workerData))).map((s) => s.worker);
}
