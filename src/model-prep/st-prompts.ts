/**
 * The prompts a sentence-transformers model folder declares in config_sentence_transformers.json
 * (`prompts`, `default_prompt_name`), read as sentence-transformers and TEI read them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from './model-error.js';

export interface ModelPrompts {
  prompts: Record<string, string>;
  defaultPromptName: string | null;
}

export const ST_CONFIG_FILE = 'config_sentence_transformers.json';

export function readModelPrompts(dir: string): ModelPrompts {
  const path = join(dir, ST_CONFIG_FILE);
  if (!existsSync(path)) return { prompts: {}, defaultPromptName: null };
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ModelError(path, `is not valid JSON: ${(e as Error).message}`);
  }
  const { prompts = {}, default_prompt_name: name = null } = (config ?? {}) as { prompts?: unknown; default_prompt_name?: unknown };
  if (prompts === null || typeof prompts !== 'object' || Array.isArray(prompts) || !Object.values(prompts).every((v) => typeof v === 'string')) {
    throw new ModelError(path, '`prompts` must map prompt names to strings');
  }
  if (name !== null && typeof name !== 'string') throw new ModelError(path, '`default_prompt_name` must be a string or null');
  return { prompts: { ...(prompts as Record<string, string>) }, defaultPromptName: name };
}
