/**
 * The Node request listener of the HTTP server. A POST with a Content-Length to a JSON route is
 * served straight from Node's request and response; everything else (other methods and routes,
 * chunked bodies, query strings) goes to hono. For one /embed call, hono's adapter builds a WHATWG
 * Request, Headers and a Response: ~23 of ~85 µs of an HTTP thread's CPU for a packed answer on 2
 * cores (bench/http-lane.ts). The routes are the same functions either way (json-route.ts).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { createHttpApp, jsonRoutes, type HttpDeps } from './app.js';
import { errorReply, type JsonRoute, type Reply } from './json-route.js';
import { closeSignal, declaredLength, incomingText, nodeHeader, tooLarge } from './node-body.js';
import { parseJsonBody } from './parse.js';

/** Serves `deps` over Node's http server: the fast lane for the JSON routes, hono for the rest. */
export function httpListener(deps: HttpDeps): RequestListener {
  const routes = jsonRoutes(deps);
  return fastLane(routes, deps.payloadLimit, getRequestListener(createHttpApp(deps, routes).fetch));
}

export function fastLane(routes: readonly JsonRoute[], payloadLimit: number, fallback: RequestListener): RequestListener {
  const byPath = new Map(routes.map((r) => [r.path, r]));
  return (req, res) => {
    const route = req.method === 'POST' ? byPath.get(req.url ?? '') : undefined;
    const length = route ? declaredLength(req) : null;
    if (!route || length === null) return fallback(req, res);
    // serve() answers every error itself; anything left (a failed write) ends the connection, never the process.
    serve(route, length, payloadLimit, req, res).catch(() => res.destroy());
  };
}

async function serve(route: JsonRoute, length: number, payloadLimit: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let reply: Reply;
  try {
    // Judged on Content-Length alone, as hono's side does (payloadLimit in node-body.ts).
    if (length > payloadLimit) throw tooLarge(payloadLimit);
    const body = parseJsonBody(await incomingText(req));
    let signal: ReturnType<typeof closeSignal> | undefined;
    reply = await route.handle({
      body,
      header: (name) => nodeHeader(req, name),
      signal: () => (signal ??= closeSignal(res)),
    });
  } catch (e) {
    reply = errorReply(e, route.style);
  }
  if (res.destroyed) return;
  reply.headers['content-length'] = String(Buffer.byteLength(reply.body));
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}
