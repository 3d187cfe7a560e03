import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchCostModel, chooseCandidate } from '../../src/core/batch-cost.js';
import { Batcher } from '../../src/core/batcher.js';
import type { BatchResult, EncodedText } from '../../src/core/types.js';
import { ids, within } from '../helpers/fake-backend.js';

test('the cost model recovers fixed and per-unit time from the calls, once they differ in size', () => {
  const model = new BatchCostModel();
  for (let i = 0; i < 5; i++) model.observe(100 + 50 * i, 4 + 0.02 * (100 + 50 * i));
  assert.equal(model.fit(), null, 'five calls are not enough');
  model.observe(1000, 4 + 0.02 * 1000);
  const fit = model.fit()!;
  assert.ok(Math.abs(fit.fixedMs - 4) < 1e-6, `fixed ${fit.fixedMs}`);
  assert.ok(Math.abs(fit.perUnitMs - 0.02) < 1e-9, `per unit ${fit.perUnitMs}`);

  assert.equal(model.wantsSpread(), false);
  const same = new BatchCostModel();
  for (let i = 0; i < 10; i++) same.observe(500, 10);
  assert.equal(same.fit(), null, 'one batch size cannot separate fixed from per-unit cost');
  assert.equal(same.wantsSpread(), true);
});

test('chooseCandidate: the largest batch when calls cost a fixed overhead, the least padded when they cost per token', () => {
  // One batch growing: 1 then 4 inputs of 10 tokens, then inputs of 40 join and pad the short ones.
  const candidates = [
    { useful: 10, units: 10 },
    { useful: 40, units: 40 },
    { useful: 80, units: 160 },
    { useful: 200, units: 320 },
  ];
  const known = (fixedMs: number, perUnitMs: number) => ({ fit: () => ({ fixedMs, perUnitMs }), wantsSpread: () => false });
  assert.equal(chooseCandidate(candidates, { fit: () => null, wantsSpread: () => false }), 1, 'unknown costs: the largest at least 90% useful');
  assert.equal(chooseCandidate(candidates, { fit: () => null, wantsSpread: () => true }), 0, 'half of that, to learn');
  assert.equal(chooseCandidate(candidates, known(50, 0.001)), 3);
  assert.equal(chooseCandidate(candidates, known(0.1, 1)), 1);
  assert.equal(chooseCandidate([{ useful: 5, units: 5 }], known(0, 1)), 0);
});

/**
 * A model whose call takes 0.05 ms per padded token on a virtual clock: padding costs as much as
 * real tokens, and the cost model learns from exact timings. Real timers would add the event
 * loop's lateness on a loaded machine to every call, which reads as a fixed cost per call.
 */
class ComputeBound {
  readonly maxConcurrentBatches = 1;
  readonly info = { padded: true };
  clock = 0;
  /** Real and padded tokens of each call. */
  readonly calls: { real: number; padded: number }[] = [];
  async embed({ inputs }: { inputs: readonly EncodedText[] }): Promise<BatchResult> {
    const longest = Math.max(...inputs.map((i) => i.ids.length));
    this.calls.push({ real: inputs.reduce((n, i) => n + i.ids.length, 0), padded: longest * inputs.length });
    // Other work (the clients' next requests) runs while the model is busy, as it would.
    await new Promise((r) => setImmediate(r));
    this.clock += 0.05 * longest * inputs.length;
    return { vectors: inputs.map(() => new Float32Array(2)) };
  }
}

test('on a compute-bound model the batcher learns to pad less than its 50% floor allows', async () => {
  const backend = new ComputeBound();
  const batcher = new Batcher(backend, { maxBatchTokens: 16384, maxBatchRequests: 256, now: () => backend.clock });
  // 48 clients, inputs of 4..64 tokens in a fixed pseudo-random order.
  let next = 0;
  const length = () => 4 + ((next++ * 37) % 61);
  await within(
    Promise.all(
      Array.from({ length: 48 }, async () => {
        while (backend.calls.length < 40) await batcher.submit([ids(length())]);
      }),
    ),
    30_000,
    '40 model calls',
  );
  // The first calls teach the model (they grow to the floor, ~0.5 efficiency on these lengths).
  const later = backend.calls.slice(10);
  const efficiency = later.reduce((n, c) => n + c.real, 0) / later.reduce((n, c) => n + c.padded, 0);
  // 0.99 with these costs; were each call's cost fixed instead (50 ms, whatever its size), 0.54. The floor is 0.5.
  assert.ok(efficiency > 0.7, `padding efficiency ${efficiency.toFixed(2)} after the first 10 calls`);
});
