/**
 * While the server drains, every answer carries `Connection: close`, so keep-alive clients (and
 * proxies' upstream pools) open their next connection elsewhere instead of having an idle one cut
 * under them. Answers already under way when draining starts get it too, if their headers are
 * not written yet.
 */
import type { Server, ServerResponse } from 'node:http';

/** Registers on `server` ahead of the routes' listener; returns the switch that starts draining. */
export function closeConnectionsWhenDraining(server: Server): { drain(): void } {
  let draining = false;
  const open = new Set<ServerResponse>();
  // First, so the header is set before a route can start its answer.
  server.prependListener('request', (_req, res: ServerResponse) => {
    if (draining) return void res.setHeader('connection', 'close');
    open.add(res);
    res.once('close', () => open.delete(res));
  });
  return {
    drain: () => {
      draining = true;
      for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
      open.clear();
    },
  };
}
