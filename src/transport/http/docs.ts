/**
 * The API's description: the OpenAPI document at /openapi.json (and TEI's /api-doc/openapi.json)
 * and Swagger UI at /docs, served from the swagger-ui-dist package (no CDN: it works offline).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { GetRoute, JsonRoute, Reply } from './json-route.js';
import { openApiDocument } from './openapi.js';

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Coalesce API</title><link rel="stylesheet" href="docs/swagger-ui.css"><link rel="icon" href="docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div><script src="docs/swagger-ui-bundle.js"></script><script src="docs/init.js"></script></body>
</html>
`;
// Relative URLs, so the page works behind a proxy that mounts the server under a prefix.
const INIT = `window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/** A file of swagger-ui-dist, read on first use and kept. */
function asset(name: string, type: string): GetRoute['handle'] {
  let body: Buffer | undefined;
  return (): Reply => {
    body ??= readFileSync(join(dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json')), name));
    return { status: 200, headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' }, body };
  };
}

export function docsRoutes(post: readonly JsonRoute[]): GetRoute[] {
  let document: string | undefined;
  const openapi = (): Reply => ({ status: 200, headers: { 'content-type': 'application/json' }, body: (document ??= JSON.stringify(openApiDocument(post))) });
  return [
    { path: '/openapi.json', handle: openapi },
    { path: '/api-doc/openapi.json', handle: openapi },
    { path: '/docs', handle: () => ({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: PAGE }) },
    { path: '/docs/init.js', handle: () => ({ status: 200, headers: { 'content-type': 'text/javascript; charset=utf-8' }, body: INIT }) },
    ...Object.entries(ASSETS).map(([name, type]) => ({ path: `/docs/${name}`, handle: asset(name, type) })),
  ];
}
