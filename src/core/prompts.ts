/**
 * Prompts as sentence-transformers and TEI apply them: a named prompt (from the model's
 * config_sentence_transformers.json) or the server's default prompt is prepended to each input
 * before tokenization, so its tokens count against the input length limit.
 */
import { quote, validation } from '../errors.js';

export interface PromptSettings {
  /** Name -> prompt text, from config_sentence_transformers.json `prompts`. */
  prompts: Readonly<Record<string, string>>;
  /** config_sentence_transformers.json `default_prompt_name` (null: none). */
  modelDefaultPromptName?: string | null;
  /** --default-prompt-name: one of `prompts`, used when a request names none. */
  defaultPromptName?: string | null;
  /** --default-prompt: text used when a request names no prompt. */
  defaultPrompt?: string | null;
}

export class Prompts {
  /** Prepended when a request names no prompt ('' : nothing). */
  readonly defaultText: string;

  constructor(
    readonly prompts: Readonly<Record<string, string>>,
    defaultText: string,
  ) {
    this.defaultText = defaultText;
  }

  static none(): Prompts {
    return new Prompts({}, '');
  }

  /**
   * The server's flags win over the model's own default_prompt_name; naming an unknown prompt at
   * start is a configuration error, as in TEI.
   */
  static from(settings: PromptSettings): Prompts {
    const { prompts } = settings;
    if (settings.defaultPromptName && settings.defaultPrompt) {
      throw new Error('--default-prompt-name and --default-prompt exclude each other: set one');
    }
    if (settings.defaultPrompt) return new Prompts(prompts, settings.defaultPrompt);
    const name = settings.defaultPromptName || settings.modelDefaultPromptName;
    if (!name) return new Prompts(prompts, '');
    if (!Object.hasOwn(prompts, name)) {
      const source = settings.defaultPromptName ? '--default-prompt-name' : "the model's default_prompt_name";
      throw new Error(`${source} is ${JSON.stringify(name)}, which is not among the model's prompts (${known(prompts)})`);
    }
    return new Prompts(prompts, prompts[name]);
  }

  /** The text to prepend for a request; an unknown name is the client's error. */
  text(promptName: string | null | undefined): string {
    if (promptName === undefined || promptName === null) return this.defaultText;
    if (!Object.hasOwn(this.prompts, promptName)) {
      throw validation(`\`prompt_name\` ${quote(promptName)} is not a prompt of this model; known prompts: ${known(this.prompts)}`, 'prompt_name');
    }
    return this.prompts[promptName];
  }

  /** The inputs with the request's prompt in front; the very same array when there is no prompt. */
  apply(inputs: readonly string[], promptName: string | null | undefined): readonly string[] {
    const prompt = this.text(promptName);
    return prompt === '' ? inputs : inputs.map((input) => prompt + input);
  }
}

function known(prompts: Readonly<Record<string, string>>): string {
  const names = Object.keys(prompts);
  return names.length === 0 ? 'none (config_sentence_transformers.json defines no prompts)' : names.map((n) => JSON.stringify(n)).join(', ');
}
