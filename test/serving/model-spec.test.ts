import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DEFAULT_MODEL_ID, servedModels } from '../../src/serving/model-spec.js';

const TINY = 'test/fixtures/tiny-bert';
const models = (argv: string[], env: NodeJS.ProcessEnv = {}) => servedModels(loadConfig(argv, env));

test('one --model is served as before: its path (or --served-model-name) names it, the config unchanged', () => {
  const one = models(['--model', TINY]);
  assert.equal(one.models.length, 1);
  assert.equal(one.defaultName, TINY);
  assert.equal(one.models[0].config.model, TINY);
  assert.equal(one.models[0].config.servedModelName, null);
  assert.equal(models(['--model', TINY, '--served-model-name', 'my model']).defaultName, 'my model');
  assert.equal(models([]).defaultName, DEFAULT_MODEL_ID);
  assert.equal(models([]).models[0].config.model, null);
});

test('repeated --model: names, per-model options over the server-wide ones, device lists, the first as default', () => {
  const { models: m, defaultName } = models([
    '--model',
    `a=${TINY}`,
    '--model',
    `b=${TINY},device=cpu,cpu,sessions=2,max-concurrent=8`,
    '--max-batch-tokens',
    '4096',
  ]);
  assert.deepEqual(
    m.map((x) => x.name),
    ['a', 'b'],
  );
  assert.equal(defaultName, 'a');
  assert.equal(m[0].config.device, 'cpu');
  assert.equal(m[1].config.device, 'cpu,cpu');
  assert.equal(m[1].config.sessions, 2);
  assert.equal(m[1].maxConcurrent, 8);
  assert.equal(m[0].maxConcurrent, null);
  assert.equal(m[1].config.maxBatchTokens, 4096, 'server-wide options reach every model');
  assert.equal(m[1].config.model, TINY);
  assert.equal(m[1].config.servedModelName, 'b');
  assert.deepEqual(m[1].options, { device: 'cpu,cpu', sessions: '2', 'max-concurrent': '8' });
});

test('the environment variable separates models with ;, and --default-model picks the default', () => {
  const { models: m, defaultName } = models(['--default-model', 'b'], { MODEL_ID: `a=${TINY};b=${TINY},max-batch-tokens=1024` });
  assert.deepEqual(
    m.map((x) => x.name),
    ['a', 'b'],
  );
  assert.equal(defaultName, 'b');
  assert.equal(m[1].config.maxBatchTokens, 1024);
});

test('bad model lists are refused at start, naming the problem', () => {
  const refused = (argv: string[], re: RegExp) =>
    assert.throws(
      () => models(argv),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
      re.source,
    );
  refused(['--model', `a=${TINY}`, '--model', `a=${TINY}`], /two models are named 'a'/);
  refused(['--model', TINY, '--model', TINY], /two models are named 'test\/fixtures\/tiny-bert'/);
  refused(['--model', `a=${TINY},devcie=cpu`, '--model', `b=${TINY}`], /unknown model option 'devcie' \(known: name, path, max-concurrent, .*device/);
  refused(['--model', `a=${TINY},device=gpu`, '--model', `b=${TINY}`], /--model 'a=.*' device: 'gpu' is not one of cpu, cuda/);
  refused(['--model', `a=${TINY},sessions=x`, '--model', `b=${TINY}`], /sessions: 'x' is not an integer/);
  refused(['--model', `a=${TINY},port=1`, '--model', `b=${TINY}`], /--port is a server-wide option, not a model's/);
  refused(['--model', `a=${TINY},max-concurrent=0`, '--model', `b=${TINY}`], /max-concurrent: 0 is below the minimum 1/);
  refused(['--model', `a=${TINY}`, '--model', `b=${TINY}`, '--default-model', 'c'], /--default-model 'c' is not a served model \(served: a, b\)/);
  refused(['--model', `a=${TINY}`, '--model', `b=${TINY}`, '--served-model-name', 'x'], /with several models, name each one/);
});

test('--models-file: YAML or JSON, with a default, numbers and booleans as values; bad files are named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-models-'));
  const yaml = join(dir, 'models.yaml');
  writeFileSync(
    yaml,
    `default: small\nmodels:\n  - name: big\n    path: ${TINY}\n    device: cpu,cpu\n    sessions: 2\n  - name: small\n    path: ${TINY}\n    autoTruncate: false\n    max-concurrent: 4\n`,
  );
  const fromYaml = models(['--models-file', yaml]);
  assert.equal(fromYaml.defaultName, 'small');
  assert.equal(fromYaml.models[0].config.device, 'cpu,cpu');
  assert.equal(fromYaml.models[0].config.sessions, 2);
  assert.equal(fromYaml.models[1].config.autoTruncate, false);
  assert.equal(fromYaml.models[1].maxConcurrent, 4);

  const json = join(dir, 'models.json');
  writeFileSync(json, JSON.stringify([{ name: 'only', path: TINY }]));
  assert.equal(models(['--models-file', json]).defaultName, 'only');

  writeFileSync(json, '{"models": [');
  assert.throws(() => models(['--models-file', json]), /is not valid JSON/);
  writeFileSync(json, JSON.stringify({ models: [{ name: 'x' }] }));
  assert.throws(() => models(['--models-file', json]), /no model path/);
  writeFileSync(json, JSON.stringify({ models: [] }));
  assert.throws(() => models(['--models-file', json]), /expected a list of models/);
  assert.throws(() => models(['--models-file', join(dir, 'missing.yaml')]), /cannot read/);
  assert.throws(() => loadConfig(['--models-file', yaml, '--model', TINY], {}), /--model and --models-file cannot be used together/);
});
