/**
 * The HTTP server's one request path: a Node request listener that routes by method and path and
 * serves every route straight from Node's request and response. hono on @hono/node-server 2.1.11,
 * serving the same routes, cost 17-45 µs more CPU per W2-like request (one text, packed answer:
 * 1.24-1.9x over three runs on 2 cores; bench/http-lane.ts, bench/results/http-lane.md), so hono
 * is not on the serving path; the benchmark keeps it (bench/hono-app.ts) as the comparison.
 */
import { accessListener } from './access.js';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { CoalesceError } from '../../errors.js';
import { httpRoutes, type HttpDeps } from './app.js';
import { errorReply, type GetRoute, type JsonRoute, type Reply } from './json-route.js';
import { closeSignal, incomingText, nodeHeader } from './node-body.js';
import { parseJsonBody } from './parse.js';
import { headerDeadline, TIMEOUT_HEADER } from './deadline-header.js';

export interface RouteTable {
  post: readonly JsonRoute[];
  get: readonly GetRoute[];
}

/** Node's server for `deps`; requests without a Host header (HTTP/1.0 health checkers) are answered too. */
export function createHttpServer(deps: HttpDeps): Server {
  return createServer({ requireHostHeader: false }, httpListener(deps));
}

export function httpListener(deps: HttpDeps): RequestListener {
  return accessListener(deps.access, routeListener(httpRoutes(deps), deps.payloadLimit));
}

/** application/json, or a structured +json type, with or without parameters. */
export function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

export function routeListener(table: RouteTable, payloadLimit: number): RequestListener {
  const post = new Map(table.post.map((r) => [r.path, r]));
  const get = new Map(table.get.map((r) => [r.path, r]));
  return (req, res) => {
    // serve() answers every error itself; anything left (a failed write) ends the connection, never the process.
    serve(req, res).catch(() => res.destroy());
  };

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const header = (name: string) => nodeHeader(req, name);
    const arrivedAt = Date.now();
    const route = req.method === 'POST' ? post.get(path) : undefined;
    let reply: Reply;
    try {
      if (route) {
        if (!isJsonType(header('content-type'))) {
          throw new CoalesceError(
            'unsupported_media_type',
            `${path} takes a JSON body: send Content-Type: application/json (got ${JSON.stringify(header('content-type') ?? null)})`,
          );
        }
        const body = parseJsonBody(await incomingText(req, payloadLimit));
        let signal: ReturnType<typeof closeSignal> | undefined;
        reply = await route.handle({
          body,
          header,
          signal: () => (signal ??= closeSignal(res)),
          deadline: () => headerDeadline(header(TIMEOUT_HEADER), arrivedAt),
        });
      } else {
        const getRoute = req.method === 'GET' || req.method === 'HEAD' ? get.get(path) : undefined;
        if (!getRoute) throw new CoalesceError('not_found', `no route ${req.method} ${path}`);
        reply = await getRoute.handle({ header });
      }
    } catch (e) {
      reply = errorReply(e, route?.style ?? 'tei');
      // An unread body (refused by its type or size) is not worth draining: end the connection after the answer.
      if (route && !req.readableEnded) reply.headers.connection = 'close';
    }
    if (res.destroyed) return;
    reply.headers['content-length'] = String(Buffer.byteLength(reply.body));
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
  }
}
