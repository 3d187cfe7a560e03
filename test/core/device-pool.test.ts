import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../src/core/batcher.js';
import { DevicePool, isDeviceFailure } from '../../src/core/device-pool.js';
import { CoalesceError } from '../../src/errors.js';
import { parseDeviceGroups } from '../../src/backend/ort/device.js';
import { FakeBackend, ids, within } from '../helpers/fake-backend.js';

function poolOf(count: number) {
  const backends = Array.from({ length: count }, () => new FakeBackend());
  const lost: string[] = [];
  const pool = new DevicePool(
    backends.map((backend, i) => ({ device: `dev${i}`, backend })),
    'model test',
    (device) => lost.push(device),
  );
  return { backends, pool, lost };
}

test('--device lists: one group per entry, cuda:all from the GPU count, bad forms named', () => {
  assert.deepEqual(parseDeviceGroups('cpu'), ['cpu']);
  assert.deepEqual(parseDeviceGroups('cpu,cpu'), ['cpu', 'cpu']);
  assert.deepEqual(parseDeviceGroups('cuda,cuda:1'), ['cuda:0', 'cuda:1']);
  assert.deepEqual(parseDeviceGroups('cuda:0,cuda:0'), ['cuda:0', 'cuda:0']);
  assert.deepEqual(
    parseDeviceGroups('cuda:all', () => 3),
    ['cuda:0', 'cuda:1', 'cuda:2'],
  );
  assert.throws(() => parseDeviceGroups('cuda:all', () => 0), /found no GPU/);
  assert.throws(
    () =>
      parseDeviceGroups('cuda:all', () => {
        throw new Error('--device cuda:all needs nvidia-smi to count the GPUs');
      }),
    /needs nvidia-smi/,
  );
  for (const bad of ['auto,cpu', 'cpu,', 'gpu', 'cuda:all,cuda:0']) assert.throws(() => parseDeviceGroups(bad), /is not one of/);
});

test('the pool has the room of its devices, and each batch goes to the least busy one', async () => {
  const { backends, pool } = poolOf(2);
  assert.equal(pool.maxConcurrentBatches, 2);
  assert.equal(pool.info.device, 'dev0,dev1');
  const release = backends.map((b) => b.hold());
  const first = pool.embed({ inputs: [ids(3)] });
  const second = pool.embed({ inputs: [ids(4)] });
  assert.deepEqual(
    backends.map((b) => b.batches.length),
    [1, 1],
    'two batches at once run on two devices',
  );
  for (const r of release) r();
  await within(Promise.all([first, second]));
  assert.deepEqual(
    pool.devices.map((d) => d.batches),
    [1, 1],
  );
});

test('a device that fails is taken out and its batch retried on another; nothing is lost; the pool stays healthy', async () => {
  const { backends, pool, lost } = poolOf(2);
  const batcher = new Batcher(pool, { maxBatchTokens: 10_000, maxBatchRequests: 4 });
  backends[0].failNext = new CoalesceError('unhealthy', 'a model worker exited (code 1)');
  // Make every later call on device 0 fail too, as a dead device would.
  const realEmbed = backends[0].embed.bind(backends[0]);
  backends[0].embed = async (b) => {
    await realEmbed(b);
    throw new CoalesceError('unhealthy', 'a model worker exited (code 1)');
  };
  const requests = Array.from({ length: 20 }, (_, i) => batcher.submit([ids(2 + (i % 5), i + 1)]));
  const answers = await within(Promise.all(requests), 5000, 'every request');
  answers.forEach((outcomes, i) => assert.equal(outcomes[0].vector[1], i + 1, 'each input gets its own answer'));
  assert.deepEqual(lost, ['dev0']);
  assert.equal(pool.healthy, true);
  assert.equal(pool.maxConcurrentBatches, 1, 'only the live device has room');
  assert.deepEqual(
    pool.devices.map((d) => d.live),
    [false, true],
  );
  assert.match(pool.devices[0].failure ?? '', /worker exited/);
});

test('once every device failed the pool is unhealthy and batches fail at once with every reason', async () => {
  const { backends, pool } = poolOf(2);
  for (const b of backends) {
    b.embed = async () => {
      throw new Error('CUDA failure 999: unknown error');
    };
  }
  const error = await pool.embed({ inputs: [ids(2)] }).then(
    () => null,
    (e: CoalesceError) => e,
  );
  assert.equal(error?.kind, 'unhealthy');
  assert.match(error?.message ?? '', /every device of model test failed \(dev0: CUDA failure 999.*; dev1: CUDA failure 999/);
  assert.equal(pool.healthy, false);
  // A batcher over a dead pool still answers (fails) rather than waiting for room that never comes.
  const batcher = new Batcher(pool, { maxBatchTokens: 100, maxBatchRequests: 4 });
  await assert.rejects(within(batcher.submit([ids(2)]), 2000, 'a batch on a dead pool'), /every device/);
});

test("a batch's own error is not a device failure: it fails once, and no device is taken out", async () => {
  const { backends, pool, lost } = poolOf(2);
  backends[0].failNext = new CoalesceError('backend', 'model call failed: input too long for the graph');
  backends[1].failNext = new CoalesceError('backend', 'model call failed: input too long for the graph');
  await assert.rejects(pool.embed({ inputs: [ids(2)] }), /input too long/);
  assert.deepEqual(lost, []);
  assert.equal(backends[0].batches.length + backends[1].batches.length, 1, 'not retried');
  assert.equal(isDeviceFailure(new Error('CUDA error: out of memory')), true);
  assert.equal(isDeviceFailure(new CoalesceError('validation', 'bad')), false);
});
