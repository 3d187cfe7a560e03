/**
 * The same routes served through hono on @hono/node-server 2.x, for the benchmark's comparison
 * with the Node listener (listener.ts): written as a hono application would be (c.req.text(),
 * c.req.header(), a Response per reply), with the listener's checks (content type, payload limit)
 * and its cheap cancellation signal, so the difference is what hono and its adapter cost.
 */
import type { ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import type { RequestListener } from 'node:http';
import { CoalesceError } from '../src/errors.js';
import { errorReply, type Reply } from '../src/transport/http/json-route.js';
import { isJsonType, type RouteTable } from '../src/transport/http/listener.js';
import { closeSignal, tooLarge } from '../src/transport/http/node-body.js';
import { parseJsonBody } from '../src/transport/http/parse.js';

const toResponse = (reply: Reply) => new Response(reply.body as string, { status: reply.status, headers: reply.headers });

export function honoListener(table: RouteTable, payloadLimit: number): RequestListener {
  const app = new Hono<{ Bindings: { outgoing: ServerResponse } }>();
  const styles = new Map(table.post.map((r) => [r.path, r.style]));
  app.onError((e, c) => toResponse(errorReply(e, styles.get(c.req.path) ?? 'tei')));
  app.notFound((c) => toResponse(errorReply(new CoalesceError('not_found', `no route ${c.req.method} ${c.req.path}`), 'tei')));
  for (const route of table.get) app.get(route.path, async (c) => toResponse(await route.handle({ header: (name) => c.req.header(name) })));
  for (const route of table.post) {
    app.post(route.path, async (c) => {
      if (!isJsonType(c.req.header('content-type'))) throw new CoalesceError('unsupported_media_type', 'send Content-Type: application/json');
      if (Number(c.req.header('content-length') ?? 0) > payloadLimit) throw tooLarge(payloadLimit);
      const body = parseJsonBody(await c.req.text());
      return toResponse(
        await route.handle({ body, header: (name) => c.req.header(name), signal: () => closeSignal(c.env.outgoing), deadline: () => undefined }),
      );
    });
  }
  return getRequestListener(app.fetch, { hostname: 'localhost' });
}
