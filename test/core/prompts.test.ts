import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prompts } from '../../src/core/prompts.js';
import { isCoalesceError } from '../../src/errors.js';

const prompts = { query: 'query: ', passage: 'passage: ' };

test('a named prompt goes in front of every input; no name means the default prompt', () => {
  const p = Prompts.from({ prompts });
  assert.deepEqual(p.apply(['a', 'b'], 'query'), ['query: a', 'query: b']);
  const bare = ['a'];
  assert.equal(p.apply(bare, undefined), bare, 'no prompt: the inputs as they are');
  assert.deepEqual(Prompts.from({ prompts, defaultPrompt: 'x: ' }).apply(['a'], null), ['x: a']);
  assert.deepEqual(Prompts.from({ prompts, defaultPrompt: 'x: ' }).apply(['a'], 'passage'), ['passage: a'], 'a named prompt replaces the default');
});

test("--default-prompt-name wins over the model's default_prompt_name, which applies when no flag is set", () => {
  assert.equal(Prompts.from({ prompts, modelDefaultPromptName: 'passage' }).defaultText, 'passage: ');
  assert.equal(Prompts.from({ prompts, modelDefaultPromptName: 'passage', defaultPromptName: 'query' }).defaultText, 'query: ');
  assert.equal(Prompts.from({ prompts, modelDefaultPromptName: 'passage', defaultPrompt: 'q: ' }).defaultText, 'q: ');
});

test('an unknown name is a validation error naming the known prompts; at start it stops the server', () => {
  const p = Prompts.from({ prompts });
  assert.throws(
    () => p.text('nope'),
    (e: unknown) => isCoalesceError(e) && e.kind === 'validation' && /"nope".*"query", "passage"/.test(e.message),
  );
  assert.throws(() => Prompts.none().text('query'), /defines no prompts/);
  assert.throws(() => Prompts.from({ prompts, defaultPromptName: 'nope' }), /--default-prompt-name is "nope".*"query", "passage"/);
  assert.throws(() => Prompts.from({ prompts, defaultPromptName: 'query', defaultPrompt: 'x' }), /exclude each other/);
});
