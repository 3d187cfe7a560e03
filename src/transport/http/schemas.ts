/**
 * The request bodies of the JSON routes as zod schemas: the same schemas validate requests
 * (parseBody) and describe them in the OpenAPI document (openapi.ts). TEI's bodies follow TEI
 * 1.9.3's router/src/http/types.rs, which ignores fields it does not know (serde's default);
 * OpenAI's bodies are strict, as OpenAI's API answers an unknown argument with an error.
 */
import { z } from 'zod/v4';
import { validation } from '../../errors.js';
import { ENCODINGS } from '../../core/quantize.js';

const tokenId = z
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const tokenIds = z.array(tokenId).min(1).meta({ description: 'Token ids as the model reads them (no special tokens are added).' });

/** TEI's `Input`: a text, token ids, or a list of either (one kind per request). */
export const teiInputs = z
  .union([z.string(), tokenIds, z.array(z.string()), z.array(tokenIds)], {
    error: 'must be a string, a list of strings, a list of token ids, or a list of token-id lists',
  })
  .meta({ description: 'One text or a list of texts; or pre-tokenized inputs: a list of token ids, or a list of such lists.' });

export const truncate = z
  .boolean({ error: 'must be a boolean' })
  .nullish()
  .meta({ description: 'Cut inputs longer than the model allows instead of refusing them (default: --auto-truncate).' });
export const truncationDirection = z
  .enum(['Left', 'Right', 'left', 'right'], { error: 'must be "Left" or "Right"' })
  .optional()
  .meta({ description: 'Which end truncation cuts from (default Right).' });
const normalize = z.boolean({ error: 'must be a boolean' }).nullish().meta({ description: 'L2-normalize the vectors (default true).' });
const dimensions = z.int({ error: 'must be an integer' }).nullish().meta({ description: 'Keep the first N dimensions (Matryoshka models), then normalize.' });
export const promptName = z
  .string({ error: 'must be a string' })
  .nullish()
  .meta({ description: "A prompt of the model's sentence-transformers configuration (`prompts`) to put before each text; not applied to token-id inputs." });

const encodingsList = ENCODINGS.map((e) => `"${e}"`).join(', ');
const encodingFormat = z
  .enum(ENCODINGS, { error: `must be one of ${encodingsList}` })
  .nullish()
  .meta({
    description:
      'float (default); base64: the float32 little-endian bytes; int8 / uint8: one byte per dimension, scaled between per-dimension ranges; binary / ubinary: sign bits packed 8 per byte (binary: each byte minus 128), as sentence-transformers quantize_embeddings.',
  });
const finite = z.number({ error: 'must be a list of numbers' });
/** Per-dimension ranges for int8/uint8, instead of the server's calibration. */
export const quantizationRanges = z
  .object(
    { min: z.array(finite, { error: 'must be a list of numbers' }), max: z.array(finite, { error: 'must be a list of numbers' }) },
    { error: 'must be an object {"min": [...], "max": [...]}' },
  )
  .nullish()
  .meta({
    description:
      "int8 / uint8 only: each dimension's minimum and maximum (as wide as the vectors, or as the model: then cut), instead of the ranges the server calibrated at start.",
  });

export const embedRequest = z
  .object({
    inputs: teiInputs,
    truncate,
    truncation_direction: truncationDirection,
    normalize,
    dimensions,
    prompt_name: promptName,
    encoding_format: encodingFormat,
    ranges: quantizationRanges,
  })
  .meta({ id: 'EmbedRequest' });

export const tokenizeRequest = z
  .object({
    inputs: z.union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings' }),
    add_special_tokens: z.boolean({ error: 'must be a boolean' }).nullish(),
    truncate,
    truncation_direction: truncationDirection,
    prompt_name: promptName,
  })
  .meta({ id: 'TokenizeRequest' });

export const decodeRequest = z
  .object({
    ids: z.union([tokenIds, z.array(tokenIds)], { error: 'must be a list of token ids or a list of such lists' }),
    skip_special_tokens: z.boolean({ error: 'must be a boolean' }).nullish(),
  })
  .meta({ id: 'DecodeRequest' });

export const similarityRequest = z
  .object({
    inputs: z.object(
      {
        source_sentence: z.string({ error: 'must be a string' }),
        sentences: z.array(z.string(), { error: 'must be a list of strings' }),
      },
      { error: 'must be an object with `source_sentence` and `sentences`' },
    ),
    parameters: z.object({ truncate, truncation_direction: truncationDirection, prompt_name: promptName }, { error: 'must be an object' }).nullish(),
  })
  .meta({ id: 'SimilarityRequest' });

/** OpenAI's `input`: a text, a list of texts, token ids, or a list of token-id lists. */
const openaiInput = z
  .union([z.string(), tokenIds, z.array(z.string()), z.array(tokenIds)], {
    error: 'must be a string, a list of strings, a list of token ids, or a list of token-id lists',
  })
  .meta({ description: 'One text or a list of texts; or token ids, or a list of token-id lists.' });

export const openaiEmbeddingsRequest = z
  .strictObject({
    input: openaiInput,
    model: z.string({ error: 'must be a string' }).nullish().meta({ description: 'Echoed in the answer; one server serves one model.' }),
    encoding_format: encodingFormat,
    dimensions,
    ranges: quantizationRanges,
    user: z.string({ error: 'must be a string' }).nullish().meta({ description: "Accepted and ignored, as an end-user id for OpenAI's abuse monitoring." }),
    modality: z
      .enum(['text', 'image'], { error: 'must be "text" or "image"' })
      .nullish()
      .meta({ description: 'Image-text models only: "image" embeds every input as an image.' }),
  })
  .meta({ id: 'OpenAIEmbeddingsRequest' });

/** Cohere's `embedding_types` values: its output encodings (base64 included, as Cohere's v2 API has it). */
const cohereEmbeddingTypes = z
  .array(z.enum(ENCODINGS, { error: `must be one of ${encodingsList}` }), { error: 'must be a list of embedding types' })
  .min(1, { error: 'must name at least one embedding type' })
  .nullish()
  .meta({ description: 'The encodings to return, each under its name in `embeddings` (default ["float"]).' });

/** Cohere's v2 embed request (texts only). Strict, as Cohere answers unknown fields with an error. */
export const cohereEmbedRequest = z
  .strictObject({
    model: z.string({ error: 'must be a string' }).nullish().meta({ description: 'Accepted, not checked: one server serves one model.' }),
    texts: z.array(z.string({ error: 'must be a list of strings' }), { error: 'must be a list of strings' }),
    input_type: z
      .enum(['search_query', 'search_document', 'classification', 'clustering'], {
        error: 'must be "search_query", "search_document", "classification" or "clustering"',
      })
      .nullish()
      .meta({
        description: "Applies the model's prompt of the same name (config_sentence_transformers.json) when it has one; otherwise the server's default prompt.",
      }),
    embedding_types: cohereEmbeddingTypes,
    output_dimension: z
      .int({ error: 'must be an integer' })
      .nullish()
      .meta({ description: 'Keep the first N dimensions (Matryoshka models), then normalize.' }),
    truncate: z
      .enum(['NONE', 'START', 'END'], { error: 'must be "NONE", "START" or "END"' })
      .nullish()
      .meta({ description: 'NONE refuses over-long texts; START cuts their start, END (default) their end.' }),
    ranges: quantizationRanges,
  })
  .meta({ id: 'CohereEmbedRequest' });

export const embedImageRequest = z
  .object({ inputs: z.union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings' }), normalize, dimensions })
  .meta({ id: 'EmbedImageRequest' });

export const classifyImageRequest = z
  .object({
    inputs: z.union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings' }),
    labels: z.array(z.string(), { error: 'must be a list of strings' }),
    hypothesis_template: z.string({ error: 'must be a string' }).nullish(),
  })
  .meta({ id: 'ClassifyImageRequest' });

/** `inputs[2]`, `parameters.truncate`: the path of a field as a client writes it. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out;
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v = body;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

/** The body as `schema` reads it, or a Validation error that names the field and says what it must be. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map((k) => `\`${fieldPath([...issue.path, k])}\``).join(', ');
    throw validation(`unknown field${issue.keys.length > 1 ? 's' : ''} ${names}`, fieldPath([...issue.path, issue.keys[0]]));
  }
  const field = fieldPath(issue.path);
  const top = String(issue.path[0] ?? '');
  if (issue.path.length === 0) throw validation('the request body must be a JSON object');
  if (valueAt(body, issue.path) === undefined) throw validation(`\`${field}\` is required`, top);
  throw validation(`\`${field}\` ${issue.message}`, top);
}

/** Texts or token-id lists, never both: what a TEI or OpenAI input field holds. */
export type Inputs = { texts: string[]; ids?: undefined } | { texts: []; ids: number[][] };

export function splitInputs(value: z.output<typeof teiInputs>): Inputs {
  if (typeof value === 'string') return { texts: [value] };
  if (value.length === 0) return { texts: [] };
  if (typeof value[0] === 'number') return { texts: [], ids: [value as number[]] };
  if (typeof value[0] === 'string') return { texts: value as string[] };
  return { texts: [], ids: value as number[][] };
}

/** TEI spells directions "Left" / "Right"; the core, lower case. */
export const direction = (v: string | undefined) => (v === undefined ? undefined : (v.toLowerCase() as 'left' | 'right'));
