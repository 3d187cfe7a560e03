import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classScores, maxSim, rankByScore, rankLabels, sigmoid, softmax } from '../../src/core/scores.js';

const close = (a: number, b: number, what: string, tolerance = 1e-12) => assert.ok(Math.abs(a - b) < tolerance, `${what}: ${a} != ${b}`);

test('softmax: probabilities summing to 1, unchanged by a shift, no overflow on large logits', () => {
  const p = softmax([1, 2, 3]);
  // e^1 / (e^1 + e^2 + e^3), worked by hand.
  close(p[0], Math.E / (Math.E + Math.E ** 2 + Math.E ** 3), 'p0');
  close(
    p.reduce((a, b) => a + b, 0),
    1,
    'sum',
  );
  assert.deepEqual(
    softmax([1001, 1002, 1003]).map((x) => x.toFixed(12)),
    p.map((x) => x.toFixed(12)),
  );
});

test('classScores: softmax for several labels, sigmoid for one label and multi-label, logits when raw or regression', () => {
  close(classScores([0], 'single_label_classification', false)[0], 0.5, 'one label');
  close(classScores([2, -2], 'multi_label_classification', false)[1], sigmoid(-2), 'multi-label');
  close(classScores([0, 0], 'single_label_classification', false)[0], 0.5, 'softmax');
  assert.deepEqual(classScores([3, -1], 'single_label_classification', true), [3, -1]);
  assert.deepEqual(classScores([3, -1], 'regression', false), [3, -1]);
});

test('rankLabels and rankByScore: highest first, ties keep their order', () => {
  assert.deepEqual(
    rankLabels(['a', 'b', 'c'], [0.2, 0.5, 0.3]).map((l) => l.label),
    ['b', 'c', 'a'],
  );
  assert.deepEqual(
    rankByScore([1, 3, 3, 2]).map((r) => r.index),
    [1, 2, 3, 0],
  );
});

test('maxSim: each query token takes its best document token, summed', () => {
  // Query tokens (1,0) and (0,1); document tokens (0.6,0.8) and (1,0): best dots 1 and 0.8.
  close(maxSim(Float32Array.of(1, 0, 0, 1), Float32Array.of(0.6, 0.8, 1, 0), 2), 1.8, 'maxsim', 1e-7); // float32 0.8
  assert.equal(maxSim(Float32Array.of(1, 0), new Float32Array(0), 2), 0);
});
