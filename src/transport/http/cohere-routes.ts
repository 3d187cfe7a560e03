/**
 * Cohere's v2 embed API (`POST /v2/embed`), texts only, so Cohere clients and the tools built on
 * them (LangChain, LlamaIndex, vector databases' Cohere integrations) can use this server. Every
 * encoding of `embedding_types` comes from one model call.
 */
import { randomUUID } from 'node:crypto';
import type { TextFacade } from './app.js';
import { CoalesceError, isCoalesceError } from '../../errors.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';
import type { Encoding } from '../../core/quantize.js';
import { countChars, timingHeaders } from '../timing-headers.js';
import { vectorEncoder } from '../vector-encodings.js';
import { encodedVectorJson } from './encode.js';
import { encodedJsonReply, type JsonRoute } from './json-route.js';
import { cohereEmbedRequest, parseBody } from './schemas.js';

type InputType = 'search_query' | 'search_document' | 'classification' | 'clustering';

/**
 * Prompt names that stand for each input type when the model has no prompt named as the type
 * itself (nomic-embed names its prompts as Cohere's types; E5- and BGE-style models say
 * query / passage / document).
 */
const PROMPT_ALIASES: Record<InputType, readonly string[]> = {
  search_query: ['query'],
  search_document: ['document', 'passage', 'corpus'],
  classification: [],
  clustering: [],
};

/** The model's prompt for an input type: its own name first, then an alias; none: the server's default prompt. */
export function promptForInputType(inputType: InputType | undefined, promptNames: readonly string[]): string | undefined {
  if (!inputType) return undefined;
  return [inputType, ...PROMPT_ALIASES[inputType]].find((name) => promptNames.includes(name));
}

/** The core's messages in Cohere's field names. */
function inCohereTerms(e: unknown): unknown {
  if (!isCoalesceError(e)) return e;
  const message = e.message
    .replace(/`inputs(\[\d+\])?`/g, '`texts$1`')
    .replace(/`dimensions`/g, '`output_dimension`')
    .replace('Set `truncate` to true to cut it.', 'Set `truncate` to "END" or "START" to cut it.');
  // An empty list is the only input this route takes: `texts`, whether or not the core named it.
  const param = e.param === 'inputs' || (e.kind === 'empty' && !e.param) ? 'texts' : e.param === 'dimensions' ? 'output_dimension' : e.param;
  return new CoalesceError(e.kind, message, param);
}

export function cohereRoutes(embedder: TextFacade, promptNames: readonly string[], quantization?: QuantizationRanges | null): JsonRoute[] {
  const handle: JsonRoute['handle'] = async (request) => {
    const body = parseBody(cohereEmbedRequest, request.body);
    const types = [...new Set<Encoding>(body.embedding_types ?? ['float'])];
    const dimensions = body.output_dimension ?? undefined;
    const modelDimensions = embedder.info.dimensions;
    try {
      const encoders = types.map((encoding) =>
        vectorEncoder({ encoding, ranges: body.ranges ?? undefined, dimensions, normalize: true, modelDimensions }, quantization),
      );
      const truncate = body.truncate ?? 'END';
      const result = await embedder.embed({
        inputs: body.texts,
        normalize: true,
        dimensions,
        truncate: truncate !== 'NONE',
        truncationDirection: truncate === 'START' ? 'left' : 'right',
        promptName: promptForInputType(body.input_type ?? undefined, promptNames),
        signal: request.signal(),
        deadline: request.deadline(),
      });
      const embeddings = types.map((type, i) => {
        const rows = encoders[i](result.vectors).map((row) => encodedVectorJson(row, type));
        return `${JSON.stringify(type)}:[${rows.join(',')}]`;
      });
      const meta = { api_version: { version: '2' }, billed_units: { input_tokens: result.promptTokens } };
      const json = `{"id":${JSON.stringify(randomUUID())},"embeddings":{${embeddings.join(',')}},"texts":${JSON.stringify(body.texts)},"meta":${JSON.stringify(meta)},"response_type":"embeddings_by_type"}`;
      return encodedJsonReply(json, timingHeaders(result.timings, result.promptTokens, countChars(body.texts), embedder.info.device));
    } catch (e) {
      throw inCohereTerms(e);
    }
  };
  return [{ path: '/v2/embed', style: 'cohere', handle }];
}
