import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../src/model-prep/manifest.js';
import { ModelError } from '../../src/model-prep/model-error.js';

const FIXTURE = 'test/fixtures/tiny-bert';

function copyFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-manifest-'));
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

const failsWith = (fn: () => unknown, file: RegExp, problem: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ModelError && file.test(e.file) && problem.test(e.problem), 'expected a ModelError naming the file');

test('a sentence-transformers folder: pooling, normalize and max length come from its configs', () => {
  const m = readManifest(FIXTURE);
  assert.equal(m.onnxFile, 'model.onnx');
  assert.equal(m.pooling, 'mean');
  assert.equal(m.normalize, true);
  assert.equal(m.maxLength, 64);
  assert.equal(m.hiddenSize, 32);
});

test('a transformers.js layout (onnx/model.onnx, fp16 / quantized variants) is found, and --onnx-file picks a variant', () => {
  const dir = copyFixture();
  try {
    mkdirSync(join(dir, 'onnx'));
    renameSync(join(dir, 'model.onnx'), join(dir, 'onnx', 'model_quantized.onnx'));
    assert.equal(readManifest(dir).onnxFile, join('onnx', 'model_quantized.onnx'));
    cpSync(join(dir, 'onnx', 'model_quantized.onnx'), join(dir, 'onnx', 'model.onnx'));
    assert.equal(readManifest(dir).onnxFile, join('onnx', 'model.onnx'));
    assert.equal(readManifest(dir, { onnxFile: 'onnx/model_quantized.onnx' }).onnxFile, join('onnx', 'model_quantized.onnx'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('old-style pooling flags, --pooling override and --max-input-length cap', () => {
  const dir = copyFixture();
  try {
    writeFileSync(
      join(dir, '1_Pooling', 'config.json'),
      JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }),
    );
    assert.equal(readManifest(dir).pooling, 'cls');
    assert.equal(readManifest(dir, { pooling: 'max' }).pooling, 'max');
    assert.equal(readManifest(dir, { maxInputLength: 16 }).maxLength, 16);
    rmSync(join(dir, 'modules.json'));
    assert.equal(readManifest(dir).pooling, 'mean', 'no modules.json: mean pooling, as TEI defaults');
    assert.equal(readManifest(dir).normalize, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing, corrupt and inconsistent folders fail with the file and the problem', () => {
  const dir = copyFixture();
  try {
    failsWith(() => readManifest(join(dir, 'nope')), /nope$/, /does not exist/);
    failsWith(() => readManifest(dir, { pooling: 'median' }), /--pooling/, /median/);
    writeFileSync(join(dir, 'modules.json'), '{ not json');
    failsWith(() => readManifest(dir), /modules\.json$/, /not valid JSON/);
    writeFileSync(join(dir, 'modules.json'), '{}');
    failsWith(() => readManifest(dir), /modules\.json$/, /not a JSON list/);
    rmSync(join(dir, 'modules.json'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0' }));
    failsWith(() => readManifest(dir), /tokenizer\.json$/, /no "model" section/);
    rmSync(join(dir, 'tokenizer.json'));
    failsWith(() => readManifest(dir), /tokenizer\.json$/, /is missing/);
    rmSync(join(dir, 'model.onnx'));
    failsWith(() => readManifest(dir), /coalesce-manifest-/, /no ONNX graph/);
    writeFileSync(join(dir, 'model.onnx'), '');
    failsWith(() => readManifest(dir), /model\.onnx$/, /is empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the model kind comes from the folder: architectures, sentence-transformers modules, --pooling splade', () => {
  const kinds: Record<string, string> = {
    'test/fixtures/tiny-bert': 'embedding',
    'test/fixtures/tiny-reranker': 'reranker',
    'test/fixtures/tiny-classifier': 'classifier',
    'test/fixtures/tiny-splade': 'sparse',
    'test/fixtures/tiny-colbert': 'multi-vector',
  };
  for (const [dir, kind] of Object.entries(kinds)) assert.equal(readManifest(dir).kind, kind, dir);
  assert.deepEqual(readManifest('test/fixtures/tiny-classifier').labels, ['negative', 'neutral', 'positive']);
  const colbert = readManifest('test/fixtures/tiny-colbert').projection!;
  assert.equal(colbert.weight.length, 32 * 16);
  assert.equal(colbert.bias, null);
  // --pooling splade asks for SPLADE; a sequence classifier cannot be one.
  assert.throws(() => readManifest('test/fixtures/tiny-reranker', { pooling: 'splade' }), /SPLADE needs a masked-language model/);
});

test('a classifier whose id2label does not number its labels 0..n-1 is refused naming config.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-kind-'));
  try {
    cpSync('test/fixtures/tiny-classifier', dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, id2label: { 0: 'a', 5: 'b' } }));
    assert.throws(() => readManifest(dir), /config\.json.*id2label entry "5"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
