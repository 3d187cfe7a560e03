import type { TextFacade } from './app.js';
import { countChars, timingHeaders } from '../timing-headers.js';
import { idLists, optionalBool, optionalInt, optionalString, stringInputs, truncationDirection } from './parse.js';
import { jsonReply, vectorsReply, type JsonRoute } from './json-route.js';

/** TEI's routes: /embed, /tokenize, /decode. */
export function teiRoutes(embedder: TextFacade): JsonRoute[] {
  return [
    {
      path: '/embed',
      style: 'tei',
      async handle(request) {
        const { body } = request;
        const inputs = stringInputs(body, 'inputs');
        const result = await embedder.embed({
          inputs,
          normalize: optionalBool(body, 'normalize') ?? true,
          truncate: optionalBool(body, 'truncate'),
          truncationDirection: truncationDirection(body),
          dimensions: optionalInt(body, 'dimensions'),
          promptName: optionalString(body, 'prompt_name'),
          signal: request.signal(),
        });
        const characters = countChars(inputs);
        return vectorsReply(request, result.vectors, timingHeaders(result.timings, result.promptTokens, characters, embedder.info.device));
      },
    },
    {
      path: '/tokenize',
      style: 'tei',
      async handle({ body }) {
        const tokens = await embedder.tokenize({
          inputs: stringInputs(body, 'inputs'),
          addSpecialTokens: optionalBool(body, 'add_special_tokens') ?? true,
          promptName: optionalString(body, 'prompt_name'),
          truncate: optionalBool(body, 'truncate'),
          truncationDirection: truncationDirection(body),
        });
        return jsonReply(tokens);
      },
    },
    {
      path: '/decode',
      style: 'tei',
      async handle({ body }) {
        return jsonReply(await embedder.decode(idLists(body, 'ids'), optionalBool(body, 'skip_special_tokens') ?? true));
      },
    },
  ];
}
