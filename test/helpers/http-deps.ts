import type { AddressInfo } from 'node:net';
import type { HttpDeps } from '../../src/transport/http/app.js';
import { createHttpServer } from '../../src/transport/http/listener.js';

/** The HTTP transport over `deps` on an ephemeral port; `request` is fetch against it. */
export async function serveDeps(
  deps: HttpDeps,
): Promise<{ url: string; request: (path: string, init?: RequestInit) => Promise<Response>; close: () => Promise<void> }> {
  const server = createHttpServer(deps);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    request: (path, init) => fetch(url + path, init),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** The task methods of a text facade, for fakes that only embed: any call fails the test. */
export const noTasks = {
  rerank: async () => {
    throw new Error('unused');
  },
  predict: async () => {
    throw new Error('unused');
  },
  embedSparse: async () => {
    throw new Error('unused');
  },
  embedAll: async () => {
    throw new Error('unused');
  },
};
