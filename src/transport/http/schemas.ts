/**
 * The request bodies of the JSON routes as zod schemas: the same schemas validate requests
 * (parseBody) and describe them in the OpenAPI document (openapi.ts). TEI's bodies follow TEI
 * 1.9.3's router/src/http/types.rs, which ignores fields it does not know (serde's default);
 * OpenAI's bodies are strict, as OpenAI's API answers an unknown argument with an error.
 */
import { z } from 'zod/v4';
import { validation } from '../../errors.js';

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

const truncate = z
  .boolean({ error: 'must be a boolean' })
  .nullish()
  .meta({ description: 'Cut inputs longer than the model allows instead of refusing them (default: --auto-truncate).' });
const truncationDirection = z
  .enum(['Left', 'Right', 'left', 'right'], { error: 'must be "Left" or "Right"' })
  .optional()
  .meta({ description: 'Which end truncation cuts from (default Right).' });
const normalize = z.boolean({ error: 'must be a boolean' }).nullish().meta({ description: 'L2-normalize the vectors (default true).' });
const dimensions = z.int({ error: 'must be an integer' }).nullish().meta({ description: 'Keep the first N dimensions (Matryoshka models), then normalize.' });
const promptName = z
  .string({ error: 'must be a string' })
  .nullish()
  .meta({ description: "A prompt of the model's sentence-transformers configuration (`prompts`) to put before each text; not applied to token-id inputs." });

export const embedRequest = z
  .object({ inputs: teiInputs, truncate, truncation_direction: truncationDirection, normalize, dimensions, prompt_name: promptName })
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
    encoding_format: z.enum(['float', 'base64'], { error: 'must be "float" or "base64"' }).nullish(),
    dimensions,
    user: z.string({ error: 'must be a string' }).nullish().meta({ description: "Accepted and ignored, as an end-user id for OpenAI's abuse monitoring." }),
    modality: z
      .enum(['text', 'image'], { error: 'must be "text" or "image"' })
      .nullish()
      .meta({ description: 'Image-text models only: "image" embeds every input as an image.' }),
  })
  .meta({ id: 'OpenAIEmbeddingsRequest' });

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
