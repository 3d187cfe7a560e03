/**
 * What every HTTP request passes before any route: CORS (--cors-allow-origin) and API keys
 * (--api-key). One Node listener wraps the whole transport, fast lane and hono alike, so no route
 * can be left out.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { CoalesceError } from '../../errors.js';
import { ApiKeys, UNAUTHORIZED_MESSAGE } from '../api-keys.js';
import { errorReply } from './json-route.js';

/** Plain data, so HTTP threads get it as it is. */
export interface AccessSpec {
  apiKeys: string[];
  /** Whether /metrics needs a key too (--api-key-metrics). */
  protectMetrics: boolean;
  /** Allowed origins, or ['*']; empty: no CORS headers at all. */
  corsOrigins: string[];
}

/** Routes probes and scrapers reach without a key. */
const OPEN_PATHS = new Set(['/health', '/ping']);
const ALLOW_HEADERS = 'authorization, content-type, accept, x-request-timeout-ms';
const EXPOSE_HEADERS =
  'x-compute-time, x-compute-tokens, x-compute-characters, x-total-time, x-tokenization-time, x-queue-time, x-inference-time, x-embedding-count, x-embedding-dimensions';

export function accessListener(spec: AccessSpec | undefined, next: RequestListener): RequestListener {
  if (!spec || (spec.apiKeys.length === 0 && spec.corsOrigins.length === 0)) return next;
  const keys = new ApiKeys(spec.apiKeys);
  const anyOrigin = spec.corsOrigins.includes('*');
  const origins = new Set(spec.corsOrigins);
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (spec.corsOrigins.length > 0) {
      res.setHeader('vary', 'Origin');
      const origin = req.headers.origin;
      if (origin && (anyOrigin || origins.has(origin))) {
        res.setHeader('access-control-allow-origin', anyOrigin ? '*' : origin);
        res.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
      }
      // A preflight carries no credentials: answer it before the key check.
      if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
        if (origin && (anyOrigin || origins.has(origin))) {
          res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS');
          res.setHeader('access-control-allow-headers', ALLOW_HEADERS);
          res.setHeader('access-control-max-age', '600');
        }
        return res.writeHead(204).end();
      }
    }
    const open = OPEN_PATHS.has(path) || (path === '/metrics' && !spec.protectMetrics);
    if (!open && !keys.accepts(req.headers.authorization)) return unauthorized(req, res, path);
    next(req, res);
  };
}

function unauthorized(req: IncomingMessage, res: ServerResponse, path: string): void {
  const reply = errorReply(
    new CoalesceError('unauthorized', UNAUTHORIZED_MESSAGE),
    path.startsWith('/v1/') ? 'openai' : path.startsWith('/v2/') ? 'cohere' : 'tei',
  );
  // The body is not read: drop the connection's keep-alive so an unread upload cannot desynchronize it.
  res.writeHead(reply.status, { ...reply.headers, 'www-authenticate': 'Bearer', connection: 'close' });
  res.end(reply.body);
  req.resume();
}
