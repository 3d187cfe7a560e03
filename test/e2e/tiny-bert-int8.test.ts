/**
 * int8 serving on the tiny BERT fixture: --quantize dynamic-int8 (quantized at load, cached) and
 * --dtype int8 (a pre-quantized graph in the folder), against the PyTorch float32 references.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Coalesce } from '../../src/server.js';
import { decodeModel, encodeModel } from '../../src/onnx-graph/onnx-proto.js';
import { quantizeDynamicMatMul } from '../../src/onnx-graph/quantize-matmul.js';
import { cosine, post, startServer, TINY_BERT } from '../helpers/server.js';
import { countOps } from '../helpers/onnx-run.js';

interface Reference {
  sentences: string[];
  mean_normalized: number[][];
}
const ref = JSON.parse(readFileSync(`${TINY_BERT}/reference.json`, 'utf8')) as Reference;
/**
 * Measured: cosine >= 0.99999995 on every sentence. The fixture's random layers add little to the
 * residual stream, so the int8 error barely reaches the pooled vector; the bound keeps a wide
 * margin (bench/results/cpu-int8.md measures a MiniLM-shaped model, where layers weigh more).
 */
const MIN_COSINE = 0.999;

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
let savedCache: string | undefined;
let cache: string;
before(() => {
  savedCache = process.env.COALESCE_GRAPH_CACHE;
  cache = tempDir('coalesce-int8-cache-');
  process.env.COALESCE_GRAPH_CACHE = cache;
});
after(() => {
  if (savedCache === undefined) delete process.env.COALESCE_GRAPH_CACHE;
  else process.env.COALESCE_GRAPH_CACHE = savedCache;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function info(server: Coalesce): Promise<{ model_dtype: string; onnx_file: string; config: { quantize: string } }> {
  return (await fetch(`${server.httpUrl}/info`)).json() as never;
}

async function cosines(server: Coalesce): Promise<number[]> {
  const { status, json } = await post(server.httpUrl, '/embed', { inputs: ref.sentences, truncate: true });
  assert.equal(status, 200);
  return (json as number[][]).map((v, i) => cosine(v, ref.mean_normalized[i]));
}

test('--quantize dynamic-int8: vectors stay within the int8 bound of the float32 references, the graph is cached', async () => {
  const server = await startServer(['--quantize', 'dynamic-int8']);
  let first: number[];
  try {
    first = await cosines(server);
    first.forEach((c, i) => assert.ok(c >= MIN_COSINE, `sentence ${i}: cosine ${c}`));
    const i = await info(server);
    assert.equal(i.model_dtype, 'int8');
    assert.equal(i.config.quantize, 'dynamic-int8');
    assert.equal(i.onnx_file, 'model.onnx', 'the source graph, as the model ships it');
  } finally {
    await server.close();
  }
  const cached = readdirSync(cache).filter((f) => f.endsWith('.onnx'));
  assert.equal(cached.length, 1);
  const served = decodeModel(readFileSync(join(cache, cached[0])));
  assert.equal(countOps(served, 'MatMulInteger'), 12, 'the served graph: q, k, v, output and both FFN projections of two layers');
  const again = await startServer(['--quantize', 'dynamic-int8']);
  try {
    assert.deepEqual(await cosines(again), first, 'a second start serves the cached graph: the same vectors');
    assert.deepEqual(
      readdirSync(cache).filter((f) => f.endsWith('.onnx')),
      cached,
    );
  } finally {
    await again.close();
  }
});

test('--quantize dynamic-int8-per-channel: one scale per weight column, vectors within the same bound', async () => {
  const server = await startServer(['--quantize', 'dynamic-int8-per-channel']);
  try {
    (await cosines(server)).forEach((c, i) => assert.ok(c >= MIN_COSINE, `sentence ${i}: cosine ${c}`));
    assert.equal((await info(server)).model_dtype, 'int8');
  } finally {
    await server.close();
  }
});

test("--dtype int8 serves the folder's pre-quantized graph (onnx/model_int8.onnx) over model.onnx", async () => {
  const dir = tempDir('coalesce-int8-model-');
  cpSync(TINY_BERT, dir, { recursive: true });
  mkdirSync(join(dir, 'onnx'));
  const quantized = quantizeDynamicMatMul(decodeModel(readFileSync(join(TINY_BERT, 'model.onnx'))), { perColumn: true });
  writeFileSync(join(dir, 'onnx', 'model_int8.onnx'), encodeModel(quantized.model));
  const server = await startServer(['--dtype', 'int8'], dir);
  try {
    const i = await info(server);
    assert.equal(i.onnx_file, 'onnx/model_int8.onnx');
    assert.equal(i.model_dtype, 'int8');
    (await cosines(server)).forEach((c, k) => assert.ok(c >= MIN_COSINE, `sentence ${k}: cosine ${c}`));
  } finally {
    await server.close();
  }
});

test('--dtype int8 on a folder without an int8 graph, and --quantize on a graph with nothing to quantize, fail to start saying why', async () => {
  await assert.rejects(startServer(['--dtype', 'int8']), /--dtype int8: the model has none of onnx\/model_int8\.onnx.*--quantize dynamic-int8/);
  const dir = tempDir('coalesce-int8-model-');
  cpSync(TINY_BERT, dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), encodeModel(quantizeDynamicMatMul(decodeModel(readFileSync(join(TINY_BERT, 'model.onnx')))).model));
  await assert.rejects(startServer(['--quantize', 'dynamic-int8'], dir), /has no MatMul with a constant float32 weight/);
});
