/**
 * HTTP served by worker threads of this one process (--http-threads). The first thread binds the
 * port; the others accept on the same listening socket (its file descriptor), so the kernel
 * hands each new connection to one of them. Parsing, routing and JSON then run on several event
 * loops while the main thread keeps only the facades, batchers and model calls. Node 20 has no
 * SO_REUSEPORT option, and forking is what Coalesce exists to avoid.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import type { HttpDeps } from '../app.js';
import { hostFacades } from './facade-host.js';
import type { ThreadName } from '../../../workers/start-workers.js';
import type { HttpThreadData, HttpThreadEvent, StopMessage } from './facade-protocol.js';

const THREAD_URL = new URL('./http-thread.js', import.meta.url);

interface Started {
  worker: Worker;
  fd: number;
  port: number;
  closeCalls: () => void;
}

function startThread(data: HttpThreadData, deps: HttpDeps, onError: (e: Error) => void): Promise<Started> {
  const { port1, port2 } = new MessageChannel();
  hostFacades(port1, deps);
  const worker = new Worker(THREAD_URL, { workerData: { data, calls: port2 }, transferList: [port2], name: 'http' satisfies ThreadName });
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      port1.close();
      void worker.terminate();
      reject(e);
    };
    worker.on('message', function onStart(m: HttpThreadEvent) {
      if (m.type === 'listen-failed') fail(new Error(m.message));
      if (m.type !== 'listening') return;
      worker.off('message', onStart);
      worker.off('exit', onEarlyExit);
      worker.on('error', onError);
      resolve({ worker, fd: m.fd, port: m.port, closeCalls: () => port1.close() });
    });
    const onEarlyExit = (code: number) => fail(new Error(`an HTTP thread exited with code ${code} before it listened`));
    worker.once('error', fail);
    worker.once('exit', onEarlyExit);
  });
}

function stop(thread: Started, closeListener: boolean): Promise<void> {
  return new Promise((resolve) => {
    const onExit = () => resolve();
    const done = (m: HttpThreadEvent) => {
      if (m.type !== 'stopped') return;
      thread.worker.off('message', done);
      thread.worker.off('exit', onExit);
      resolve();
    };
    thread.worker.on('message', done);
    thread.worker.once('exit', onExit);
    thread.worker.postMessage({ type: 'stop', closeListener } satisfies StopMessage);
  });
}

export class HttpThreads {
  private constructor(
    private readonly threads: Started[],
    /** The bound port (the one asked for, or the one chosen for port 0). */
    readonly port: number,
    private readonly counts: Int32Array,
  ) {}

  /** Open connections per thread, now. */
  connections(): number[] {
    return Array.from(this.counts, (_, i) => Atomics.load(this.counts, i));
  }

  static async start(
    count: number,
    listen: { hostname: string; port: number } | { path: string },
    deps: HttpDeps,
    shared: Omit<HttpThreadData, 'listen' | 'connections'>,
    onError: (e: Error) => void,
  ): Promise<HttpThreads> {
    const counts = new SharedArrayBuffer(4 * count);
    const owner = await startThread({ ...shared, listen, connections: { counts, slot: 0 } }, deps, onError);
    if (owner.fd < 0) {
      await stop(owner, true);
      await owner.worker.terminate();
      throw new Error('the first HTTP thread did not expose its listening socket');
    }
    const others = await Promise.allSettled(
      Array.from({ length: count - 1 }, (_, i) => startThread({ ...shared, listen: { fd: owner.fd }, connections: { counts, slot: i + 1 } }, deps, onError)),
    );
    const failed = others.find((r) => r.status === 'rejected');
    const started = others.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const threads = new HttpThreads([owner, ...started], owner.port, new Int32Array(counts));
    if (failed) {
      await threads.close();
      throw (failed as PromiseRejectedResult).reason;
    }
    return threads;
  }

  /**
   * Closes the listening socket (through its owner, the first thread) and, in every thread at
   * once, the connections once their answers are written. The other threads stay, idle and
   * unreferenced, until the process ends (http-thread.ts says why).
   */
  async close(): Promise<void> {
    const [owner, ...others] = this.threads;
    await Promise.all([stop(owner, true), ...others.map((t) => stop(t, false))]);
    for (const t of this.threads) t.closeCalls();
    await owner.worker.terminate();
    for (const t of others) t.worker.unref();
  }
}
