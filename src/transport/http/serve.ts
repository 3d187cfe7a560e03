/**
 * Starts the HTTP transport: on the main thread, beside the facades, or on --http-threads
 * worker threads of this process that call them by message. Either way the same routes answer.
 */
import type { AddressInfo } from 'node:net';
import type { HttpDeps } from './app.js';
import { ConnectionDrain } from './connection-drain.js';
import { createHttpServer } from './listener.js';
import type { ArrivalEncoderSpec } from '../../preprocess/arrival-encoder.js';
import { HttpThreads } from './threads/http-threads.js';
import { freeSocketPath, setSocketMode } from '../unix-socket.js';

export interface HttpServing {
  /** The TCP port; 0 when serving on a Unix socket. */
  port: number;
  /**
   * The shutdown grace starts. Connections are left as they are: a proxy that reuses its upstream
   * connections keeps doing so rather than opening new ones that the closing listener could
   * reset (connection-drain.ts).
   */
  drain(): void;
  /**
   * Stops accepting; from then on every answer carries `Connection: close`, and each connection
   * closes once its answers are written and it is idle. Resolves when none is left. A connection
   * accepted just before, whose request has not been read yet, is still served.
   */
  close(): Promise<void>;
}

export interface HttpServeOptions {
  hostname: string;
  port: number;
  /** Serve on this Unix socket instead of hostname:port (null: TCP). */
  path: string | null;
  /** File mode of the Unix socket, octal ('0660'). */
  mode: string;
  threads: number;
  onThreadError: (e: Error) => void;
  /** For HTTP threads: the text tokenizer, to encode plain ASCII text where it arrives (null: never). */
  arrival: ArrivalEncoderSpec | null;
  /** HTTP threads: idle time before each hands back the heap it grew (idle-heap-release.ts); 0: never. */
  idleHeapReleaseMs?: number;
}

/** Where HTTP runs, for /info: 'main thread' or 'N threads' (HttpThreads starts all N or fails). */
export function httpWhere(threads: number): string {
  return threads > 0 ? `${threads} threads` : 'main thread';
}

export async function serveHttp(deps: HttpDeps, options: HttpServeOptions): Promise<HttpServing> {
  if (options.path) await freeSocketPath(options.path);
  const listen = options.path ? { path: options.path } : { hostname: options.hostname, port: options.port };
  if (options.threads > 0) {
    const threads = await HttpThreads.start(
      options.threads,
      listen,
      deps,
      // The facades' info never changes after start: threads get it once.
      {
        modelName: deps.modelName,
        payloadLimit: deps.payloadLimit,
        access: deps.access,
        textInfo: deps.embedder.info,
        imageInfo: deps.images?.images.info ?? null,
        quantization: deps.quantization?.data ?? null,
        promptNames: deps.promptNames ?? [],
        models: deps.models
          ? deps.models.models.map((m) => ({
              name: m.name,
              textInfo: m.embedder.info,
              imageInfo: m.images?.images.info ?? null,
              listing: m.listing,
            }))
          : undefined,
        arrival: options.arrival,
        idleHeapReleaseMs: options.idleHeapReleaseMs,
      },
      options.onThreadError,
    );
    if (options.path) setSocketMode(options.path, options.mode);
    return { port: threads.port, drain: () => {}, close: () => threads.close() };
  }
  const server = createHttpServer(deps);
  const connections = new ConnectionDrain(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in listen) server.listen(listen.path, () => resolve());
    else server.listen(listen.port, listen.hostname, () => resolve());
  });
  if (options.path) setSocketMode(options.path, options.mode);
  let closed: Promise<void> | null = null;
  return {
    port: options.path ? 0 : (server.address() as AddressInfo).port,
    drain: () => {},
    close: () =>
      (closed ??= (() => {
        connections.stopListening();
        return connections.closeConnections();
      })()),
  };
}
