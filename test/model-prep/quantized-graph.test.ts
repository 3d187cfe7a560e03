import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../src/model-prep/manifest.js';
import { ModelError } from '../../src/model-prep/model-error.js';
import { quantizeManifest, servedManifest } from '../../src/model-prep/quantized-graph.js';
import { countOps, loadModel } from '../helpers/onnx-run.js';
import { TINY_BERT } from '../helpers/server.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const freshCache = () => {
  const d = mkdtempSync(join(tmpdir(), 'coalesce-q8-cache-'));
  dirs.push(d);
  return d;
};

test('the quantized graph is written once per source and reused; a damaged note is rewritten', () => {
  const manifest = readManifest(TINY_BERT);
  const cache = freshCache();
  const first = quantizeManifest(manifest, { cacheDir: cache });
  assert.equal(first.cached, false);
  assert.deepEqual([first.quantized, first.leftFloat], [12, 4], 'every projection; attention keeps its two float MatMuls per layer');
  assert.notEqual(first.manifest.onnxPath, manifest.onnxPath);
  assert.equal(first.manifest.onnxFile, manifest.onnxFile);
  assert.equal(countOps(loadModel(first.manifest.onnxPath), 'MatMulInteger'), 12);
  const second = quantizeManifest(manifest, { cacheDir: cache });
  assert.deepEqual({ ...second, cached: true }, { ...first, cached: true });
  assert.equal(second.cached, true);
  const note = readdirSync(cache).find((f) => f.endsWith('.json'))!;
  writeFileSync(join(cache, note), '{not json');
  const third = quantizeManifest(manifest, { cacheDir: cache });
  assert.equal(third.cached, false);
  assert.equal(third.quantized, 12);
  const perChannel = quantizeManifest(manifest, { cacheDir: cache, perChannel: true });
  assert.equal(perChannel.cached, false, 'per channel is another preparation, cached apart');
  assert.notEqual(perChannel.manifest.onnxPath, first.manifest.onnxPath);
  const scales = loadModel(perChannel.manifest.onnxPath).graph!.initializer!.filter((t) => t.name!.endsWith('_scale'));
  assert.ok(scales.length === 12 && scales.every((t) => t.dims!.length === 1), 'one scale per output column');
});

test('--quantize none leaves the manifest alone; an image-text model is refused', () => {
  const manifest = readManifest(TINY_BERT);
  assert.deepEqual(servedManifest(manifest, 'none', false), { manifest, note: null });
  assert.throws(
    () => servedManifest(manifest, 'dynamic-int8', true),
    (e: Error) => e instanceof ModelError && /serves text models/.test(e.message),
  );
});
