import type { Hono } from 'hono';
import { PLAYGROUND_HTML } from './page.js';

/**
 * GET /playground, and GET / from a browser (an Accept that names text/html): the page. Other
 * GET / requests fall through to the not-found answer; POST / is not touched.
 */
export function playgroundRoutes(app: Hono): void {
  app.get('/playground', (c) => c.html(PLAYGROUND_HTML));
  app.get('/', async (c, next) => {
    if (!(c.req.header('accept') ?? '').includes('text/html')) return next();
    return c.html(PLAYGROUND_HTML);
  });
}
