import { CoalesceError } from '../../../errors.js';
import type { GetRoute, Reply } from '../json-route.js';
import { PLAYGROUND_HTML } from './page.js';

const page = (): Reply => ({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: PLAYGROUND_HTML });

/**
 * GET /playground, and GET / from a browser (an Accept that names text/html): the page. Other
 * GET / requests get the not-found answer; POST / is TEI's JSON route.
 */
export function playgroundRoutes(): GetRoute[] {
  return [
    { path: '/playground', handle: page },
    {
      path: '/',
      handle: ({ header }) => {
        if (!(header('accept') ?? '').includes('text/html'))
          throw new CoalesceError('not_found', 'no route GET /: POST / embeds, GET /playground is the browser page');
        return page();
      },
    },
  ];
}
