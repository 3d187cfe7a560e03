/** The CLI fails at start, with one clear message and a non-zero exit, on models it cannot serve. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = 'dist/src/main.js';
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, '--port', '0', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PORT: '' } });

test('--help lists every option with its env var and default', () => {
  const r = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--max-batch-tokens <int>\s+\[env MAX_BATCH_TOKENS, default 16384\]/);
});

test('a bad option or value exits 2 naming it', () => {
  const unknown = run('--max-batch-token', '5');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown option '--max-batch-token'/);
  const bad = run('--max-batch-tokens', 'lots');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--max-batch-tokens: 'lots' is not an integer/);
});

test('a corrupt ONNX file fails the start naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-corrupt-'));
  try {
    cpSync('test/fixtures/tiny-bert', dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), 'this is not a protobuf');
    const r = run('--model', dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot serve the model: .*model\.onnx: cannot be loaded by ONNX Runtime/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a config that contradicts the graph fails the start naming config.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-inconsistent-'));
  try {
    cpSync('test/fixtures/tiny-bert', dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 768, max_position_embeddings: 64 }));
    const r = run('--model', dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /config\.json: says hidden_size 768 but the graph outputs 32/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing model folder fails the start naming it', () => {
  const r = run('--model', '/nonexistent/model');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/nonexistent\/model: is not a model folder/);
});
