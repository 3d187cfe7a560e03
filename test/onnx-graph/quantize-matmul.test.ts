import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { quantizeDynamicMatMul, quantizeWeight } from '../../src/onnx-graph/quantize-matmul.js';
import {
  DataType,
  decodeModel,
  encodeModel,
  floatTensor,
  makeGraph,
  makeModel,
  makeNode,
  makeValueInfo,
  tensorData,
  type ModelProto,
} from '../../src/onnx-graph/onnx-proto.js';
import { cosine } from '../helpers/server.js';
import { countOps, outputs } from '../helpers/onnx-run.js';

const K = 48;
const N = 40;

/** Seeded values in [-1, 1), not flat, with a few larger ones as real weights have. */
function values(count: number, seed: number, spread = 1): Float32Array {
  let a = seed >>> 0;
  return Float32Array.from({ length: count }, (_, i) => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    const v = (a / 2 ** 32) * 2 - 1;
    return (i % 97 === 0 ? 3 : 1) * spread * v;
  });
}

/**
 * x [B, S, K] through: q = x W1 + b1 (bias first, as torch.onnx writes it); k = x W2 (x shared);
 * scores = q k^T (two activations); out = scores-weighted q, then through W1 again (a shared weight
 * on another activation: W1 is [K, N], so the second use reads a [.., K] input made by a third projection).
 */
function tinyGraph(opset = 17): ModelProto {
  const nodes = [
    makeNode('MatMul', ['x', 'W1'], ['q_mm']),
    makeNode('Add', ['b1', 'q_mm'], ['q']),
    makeNode('MatMul', ['x', 'W2'], ['k']),
    makeNode('Transpose', ['k'], ['kT'], [{ name: 'perm', type: 7, ints: [0, 2, 1] }]),
    makeNode('MatMul', ['q', 'kT'], ['scores']),
    makeNode('Softmax', ['scores'], ['probs'], [{ name: 'axis', type: 2, i: -1 }]),
    makeNode('MatMul', ['probs', 'q'], ['mixed']),
    makeNode('MatMul', ['mixed', 'W3'], ['back']),
    makeNode('MatMul', ['back', 'W1'], ['y']),
  ];
  const graph = makeGraph({
    name: 'tiny-projections',
    nodes,
    inputs: [makeValueInfo('x', DataType.FLOAT, ['batch', 'seq', K])],
    outputs: [makeValueInfo('y', DataType.FLOAT, ['batch', 'seq', N]), makeValueInfo('k', DataType.FLOAT, ['batch', 'seq', N])],
    initializers: [
      floatTensor('W1', values(K * N, 1, 0.2), [K, N]),
      floatTensor('b1', values(N, 2, 0.1), [N]),
      floatTensor('W2', values(K * N, 3, 0.2), [K, N]),
      floatTensor('W3', values(N * K, 4, 0.2), [N, K]),
    ],
  });
  return makeModel(graph, { opsetVersion: opset });
}

const feeds = (batch = 3, seq = 7) => ({ x: new ort.Tensor('float32', values(batch * seq * K, 9), [batch, seq, K]) });

function rowCosines(a: Float32Array, b: Float32Array, width: number): number[] {
  return Array.from({ length: a.length / width }, (_, r) => cosine(a.subarray(r * width, (r + 1) * width), b.subarray(r * width, (r + 1) * width)));
}

test('int8 weights: symmetric, the largest magnitude at +-127, zero point 0; per column with perColumn', () => {
  const w = Float32Array.from([0.5, -2, 0, 1.1, 0.2, -0.3]); // [3, 2]
  const t = quantizeWeight(w, 3, 2, false);
  assert.deepEqual([...t.scales], [Math.fround(2 / 127)]);
  assert.deepEqual([...t.q], [32, -127, 0, 70, 13, -19]);
  const c = quantizeWeight(w, 3, 2, true);
  assert.deepEqual([...c.scales], [Math.fround(0.5 / 127), Math.fround(2 / 127)]);
  assert.deepEqual([...c.q], [127, -127, 0, 70, 51, -19]);
  // Halves round to even, as numpy does; an all-zero weight gets scale 1.
  assert.deepEqual([...quantizeWeight(Float32Array.from([2.5, 127]), 2, 1, false).q], [2, 127]);
  assert.deepEqual([...quantizeWeight(new Float32Array(4), 2, 2, false).scales], [1]);
});

test('MatMuls with constant weights become DynamicQuantizeLinear + MatMulInteger, and run close to float32', async () => {
  const before = tinyGraph();
  const { model, quantized, skipped } = quantizeDynamicMatMul(before);
  assert.equal(quantized, 4, 'x W1, x W2, mixed W3, back W1');
  assert.equal(skipped, 2, "attention's q k^T and probs q: two activations");
  assert.equal(countOps(model, 'MatMulInteger'), 4);
  assert.equal(countOps(model, 'MatMul'), 2);
  assert.equal(countOps(model, 'DynamicQuantizeLinear'), 3, 'x is quantized once for its two projections');
  const inits = new Map((model.graph!.initializer ?? []).map((t) => [t.name!, t]));
  assert.ok(!inits.has('W1') && !inits.has('W2') && !inits.has('W3'), 'the float weights are gone');
  const int8 = [...inits.values()].filter((t) => t.data_type === DataType.INT8 && t.dims!.length === 2);
  assert.equal(int8.length, 3, 'W1 is quantized once for its two uses');
  for (const t of [...inits.values()].filter((t) => t.name!.endsWith('_zero_point'))) assert.ok([...tensorData(t)].every((v) => v === 0));
  const add = model.graph!.node!.find((n) => n.op_type === 'Add')!;
  assert.deepEqual(add.input, ['q_mm', 'b1'], 'the bias is the second input, where the fusion takes it');

  const f = feeds();
  const [y32, k32] = await outputs(before, f, ['y', 'k']);
  const [y8, k8] = await outputs(model, f, ['y', 'k']);
  assert.notDeepEqual(y8, y32, 'integer arithmetic does not give float32 results bit for bit');
  // k went through one quantized MatMul; y through three, with a softmax between them (errors add
  // up): 8-bit steps of inputs with outliers, so the bounds differ.
  for (const [a, b, what, minCosine, maxError] of [
    [k32, k8, 'k', 0.9995, 0.02],
    [y32, y8, 'y', 0.99, 0.08],
  ] as const) {
    const worst = Math.min(...rowCosines(a, b, N));
    assert.ok(worst > minCosine, `${what}: worst row cosine ${worst}`);
    const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    assert.ok(diff < maxError * scale, `${what}: max difference ${diff} against values up to ${scale}`);
  }
});

test('per-column weights run too, at least as close', async () => {
  const before = tinyGraph();
  const perTensor = quantizeDynamicMatMul(before).model;
  const perColumn = quantizeDynamicMatMul(before, { perColumn: true }).model;
  const scales = perColumn.graph!.initializer!.filter((t) => t.name!.endsWith('_scale'));
  assert.ok(scales.length > 0 && scales.every((t) => t.dims!.length === 1));
  const f = feeds();
  const [y32] = await outputs(before, f, ['y']);
  const [yt] = await outputs(perTensor, f, ['y']);
  const [yc] = await outputs(perColumn, f, ['y']);
  const err = (y: Float32Array) => y.reduce((s, v, i) => s + (v - y32[i]) ** 2, 0);
  assert.ok(err(yc) <= err(yt) * 1.05, `per column ${err(yc)} vs per tensor ${err(yt)}`);
});

test("ONNX Runtime's CPU optimizer fuses the rewrite into integer GEMMs that take the bias", async () => {
  const { model } = quantizeDynamicMatMul(tinyGraph());
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-q8-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const s = await ort.InferenceSession.create(encodeModel(model), {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: path,
      logSeverityLevel: 3,
    });
    await s.release();
    const optimized = decodeModel(readFileSync(path));
    const fused = countOps(optimized, 'MatMulIntegerToFloat') + countOps(optimized, 'DynamicQuantizeMatMul');
    assert.equal(fused, 4);
    assert.equal(countOps(optimized, 'MatMulInteger'), 0);
    assert.equal(countOps(optimized, 'Add'), 0, 'the bias Add went into the fused node');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a graph below opset 11 (no DynamicQuantizeLinear) and one without constant weights come back unchanged', () => {
  const old = tinyGraph(10);
  const r = quantizeDynamicMatMul(old);
  assert.equal(r.quantized, 0);
  assert.equal(r.model, old);
  const noWeights = makeModel(
    makeGraph({
      name: 'two-inputs',
      nodes: [makeNode('MatMul', ['a', 'b'], ['c'])],
      inputs: [makeValueInfo('a', DataType.FLOAT, [2, 3]), makeValueInfo('b', DataType.FLOAT, [3, 4])],
      outputs: [makeValueInfo('c', DataType.FLOAT, [2, 4])],
    }),
  );
  assert.deepEqual((({ quantized, skipped }) => ({ quantized, skipped }))(quantizeDynamicMatMul(noWeights)), { quantized: 0, skipped: 1 });
});
