import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { checkMemoryBudget, parseBytes, weightBytes } from '../../src/serving/device-memory.js';

test('sizes read in bytes and binary or decimal units', () => {
  assert.equal(parseBytes('1024'), 1024);
  assert.equal(parseBytes('40GiB'), 40 * 2 ** 30);
  assert.equal(parseBytes('80 GB'), 80e9);
  assert.equal(parseBytes('1.5MiB'), 1.5 * 2 ** 20);
  assert.throws(() => parseBytes('lots'), /is not a size/);
});

test('the budget is per device: models on one device that add up past it are refused, naming each', () => {
  const gib = 2 ** 30;
  const placements = [
    { model: 'bge', device: 'cuda:0', bytes: 30 * gib },
    { model: 'siglip', device: 'cuda:0', bytes: 20 * gib },
    { model: 'bge', device: 'cuda:1', bytes: 30 * gib },
  ];
  assert.doesNotThrow(() => checkMemoryBudget(placements, 60 * gib));
  assert.throws(
    () => checkMemoryBudget(placements, 40 * gib),
    /would not fit --max-device-memory 40\.00 GiB on cuda:0: bge 30\.00 GiB \+ siglip 20\.00 GiB = 50\.00 GiB/,
  );
});

test("a graph's weight bytes are its file's size", () => {
  const file = 'test/fixtures/tiny-bert/model.onnx';
  assert.equal(weightBytes(file), statSync(file).size);
  assert.equal(weightBytes('test/fixtures/none.onnx'), 0);
});
