/**
 * Starts the HTTP transport: on the main thread, beside the facades, or on --http-threads
 * worker threads of this process that call them by message. Either way the same routes answer.
 */
import type { AddressInfo } from 'node:net';
import type { HttpDeps } from './app.js';
import { createHttpServer } from './listener.js';
import type { ArrivalEncoderSpec } from '../../preprocess/arrival-encoder.js';
import { HttpThreads } from './threads/http-threads.js';

export interface HttpServing {
  port: number;
  /** Stops accepting and closes connections; call after the facades drained. */
  close(): Promise<void>;
}

export interface HttpServeOptions {
  hostname: string;
  port: number;
  threads: number;
  onThreadError: (e: Error) => void;
  /** For HTTP threads: the text tokenizer, to encode plain ASCII text where it arrives (null: never). */
  arrival: ArrivalEncoderSpec | null;
}

/** Where HTTP runs, for /info: 'main thread' or 'N threads' (HttpThreads starts all N or fails). */
export function httpWhere(threads: number): string {
  return threads > 0 ? `${threads} threads` : 'main thread';
}

export async function serveHttp(deps: HttpDeps, options: HttpServeOptions): Promise<HttpServing> {
  if (options.threads > 0) {
    const threads = await HttpThreads.start(
      options.threads,
      { hostname: options.hostname, port: options.port },
      deps,
      // The facades' info never changes after start: threads get it once.
      { modelName: deps.modelName, payloadLimit: deps.payloadLimit, access: deps.access, textInfo: deps.embedder.info, imageInfo: deps.images?.images.info ?? null, arrival: options.arrival },
      options.onThreadError,
    );
    return { port: threads.port, close: () => threads.close() };
  }
  const server = createHttpServer(deps);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeIdleConnections();
      });
      server.closeAllConnections();
    },
  };
}
