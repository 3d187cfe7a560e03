import type { Hono } from 'hono';
import type { TextFacade } from './app.js';
import { parseJsonBody, idLists, optionalBool, optionalInt, stringInputs, truncationDirection } from './parse.js';
import { setTimingHeaders } from './timing-headers.js';
import { vectorsResponse } from './vectors-response.js';
import { bodyText, clientGone } from './node-body.js';

/** TEI's routes: /embed, /tokenize, /decode. */
export function teiRoutes(app: Hono, embedder: TextFacade): void {
  app.post('/embed', async (c) => {
    const body = parseJsonBody(await bodyText(c));
    const inputs = stringInputs(body, 'inputs');
    const result = await embedder.embed({
      inputs,
      normalize: optionalBool(body, 'normalize') ?? true,
      truncate: optionalBool(body, 'truncate'),
      truncationDirection: truncationDirection(body),
      dimensions: optionalInt(body, 'dimensions'),
      signal: clientGone(c),
    });
    setTimingHeaders(c, result.timings, result.promptTokens, inputs.reduce((n, s) => n + s.length, 0), embedder.info.device);
    return vectorsResponse(c, result.vectors);
  });

  app.post('/tokenize', async (c) => {
    const body = parseJsonBody(await bodyText(c));
    const tokens = await embedder.tokenize({
      inputs: stringInputs(body, 'inputs'),
      addSpecialTokens: optionalBool(body, 'add_special_tokens') ?? true,
      truncate: optionalBool(body, 'truncate'),
      truncationDirection: truncationDirection(body),
    });
    return c.json(tokens);
  });

  app.post('/decode', async (c) => {
    const body = parseJsonBody(await bodyText(c));
    return c.json(await embedder.decode(idLists(body, 'ids'), optionalBool(body, 'skip_special_tokens') ?? true));
  });
}
