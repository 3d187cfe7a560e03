import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { readManifest } from '../../../src/model-prep/manifest.js';
import { CUDA_PROVIDER_LIBRARIES, cudaUnavailableMessage, DEVICE_PATTERN, ortBinaryDir, parseDevice } from '../../../src/backend/ort/device.js';
import { OrtBackend } from '../../../src/backend/ort/ort-backend.js';
import { existsSync } from 'node:fs';
import { TINY_BERT } from '../../helpers/server.js';
import { l2Normalize } from '../../../src/core/postprocess.js';

function assertRowsClose(a: Float32Array[], b: Float32Array[]): void {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => v.forEach((x, d) => assert.ok(Math.abs(x - b[i][d]) < 1e-5, `row ${i}[${d}]: ${x} vs ${b[i][d]}`)));
}

test('--device takes cpu, cuda, cuda:N and auto, and refuses anything else naming the forms', () => {
  assert.deepEqual(parseDevice('cpu'), { kind: 'cpu' });
  assert.deepEqual(parseDevice('cuda'), { kind: 'cuda', id: 0 });
  assert.deepEqual(parseDevice('cuda:3'), { kind: 'cuda', id: 3 });
  assert.deepEqual(parseDevice('auto'), { kind: 'auto' });
  for (const bad of ['gpu', 'cuda:', 'cuda:x', 'CUDA', 'cpu:0', '']) assert.throws(() => parseDevice(bad), /is not one of cpu, cuda, cuda:N, auto/);
  assert.equal(loadConfig(['--device', 'cuda:1'], {}).device, 'cuda:1');
  assert.equal(loadConfig([], { DEVICE: 'auto' }).device, 'auto');
  assert.throws(
    () => loadConfig(['--device', 'gpu'], {}),
    (e: Error) => e instanceof ConfigError && /--device: 'gpu' is not one of cpu, cuda, cuda:N, auto/.test(e.message),
  );
  assert.throws(() => loadConfig([], { DEVICE: 'cuda:a' }), /DEVICE: 'cuda:a'/);
  // config.ts keeps its own copy of the pattern: both must accept the same forms
  for (const s of ['cpu', 'cuda', 'cuda:12', 'auto', 'gpu', 'cuda:']) assert.equal(DEVICE_PATTERN.test(s), /^(cpu|auto|cuda(:\d+)?)$/.test(s));
});

test('a missing CUDA provider is named, with where it goes and how to install it', () => {
  const empty = mkdtempSync(join(tmpdir(), 'coalesce-ort-'));
  const message = cudaUnavailableMessage('Failed to load shared library', empty);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    assert.match(message, /only available on linux-x64/);
    return;
  }
  for (const lib of CUDA_PROVIDER_LIBRARIES) assert.ok(message.includes(lib), message);
  assert.ok(message.includes(empty), 'says where the libraries belong');
  assert.match(message, /npm pack com\.github\.asus4\.onnxruntime\.linux-x64-gpu@0\.4\.9/);
  assert.match(message, /scripts\/install-cuda-provider\.sh/);

  // Installed but not loadable: then the CUDA and cuDNN libraries are what is missing.
  for (const lib of CUDA_PROVIDER_LIBRARIES) writeFileSync(join(empty, lib), '');
  const second = cudaUnavailableMessage('libcudart.so.13: cannot open shared object file', empty);
  assert.match(second, /installed in .* but did not load \(libcudart\.so\.13: cannot open shared object file\)/);
  assert.match(second, /cuDNN 9/);
});

const providerInstalled = () => {
  const dir = ortBinaryDir();
  return dir !== null && CUDA_PROVIDER_LIBRARIES.every((f) => existsSync(join(dir, f)));
};

test('--device cuda without a usable CUDA provider fails at start with that message; auto falls back to the CPU and says why', {
  skip: providerInstalled() ? 'the CUDA provider is installed here' : false,
}, async () => {
  const manifest = readManifest(TINY_BERT);
  await assert.rejects(OrtBackend.start('tiny', manifest, { device: 'cuda', intraOpThreads: 1 }), (e: Error) => {
    assert.match(e.message, /^--device cuda: /);
    assert.match(e.message, /libonnxruntime_providers_cuda\.so/);
    return true;
  });
  const backend = await OrtBackend.start('tiny', manifest, { device: 'auto', intraOpThreads: 1 });
  try {
    assert.equal(backend.info.provider, 'cpu');
    assert.equal(backend.info.device, 'cpu');
    assert.equal(backend.sessions, 1);
    assert.equal(backend.notes.length, 1);
    assert.match(backend.notes[0], /^--device auto: running on the CPU because .*libonnxruntime_providers_cuda\.so/);
    const [v] = (await backend.embed({ inputs: [{ ids: Uint32Array.from([101, 7592, 2088, 102]) }] })).vectors;
    assert.equal(v.length, 32);
  } finally {
    await backend.close();
  }
});

test('several sessions in one process share the batches and give the same vectors', async () => {
  const manifest = readManifest(TINY_BERT);
  const backend = await OrtBackend.start('tiny', manifest, { device: 'cpu', intraOpThreads: 1, sessions: 3 });
  try {
    assert.equal(backend.sessions, 3);
    assert.equal(backend.maxConcurrentBatches, 3);
    assert.equal(backend.pooledInGraph, true);
    const input = { ids: Uint32Array.from([101, 1996, 4248, 2829, 4419, 102]) };
    const results = await Promise.all(Array.from({ length: 9 }, () => backend.embed({ inputs: [input, input] })));
    for (const r of results) assert.deepEqual(Array.from(r.vectors[1]), Array.from(results[0].vectors[0]));
  } finally {
    await backend.close();
  }
});

test('pooling on the host (--pool-in-graph false) and in the graph give the same vectors, raw and normalized', async () => {
  const manifest = readManifest(TINY_BERT, { pooling: 'max' });
  const inGraph = await OrtBackend.start('tiny', manifest, { device: 'cpu', intraOpThreads: 1 });
  const onHost = await OrtBackend.start('tiny', manifest, { device: 'cpu', intraOpThreads: 1, poolInGraph: false });
  try {
    assert.equal(inGraph.pooledInGraph, true);
    assert.equal(onHost.pooledInGraph, false);
    assert.equal(onHost.info.outputName, 'last_hidden_state');
    assert.match(onHost.notes[0], /pooling on the host: in-graph pooling is off/);
    const batch = { inputs: [{ ids: Uint32Array.from([101, 7592, 2088, 102]) }, { ids: Uint32Array.from([101, 1037, 102]) }] };
    const [a, b] = [await inGraph.embed(batch), await onHost.embed(batch)];
    assertRowsClose(a.vectors, b.vectors);
    // Normalized by the graph on one side, by the session worker on the other.
    assertRowsClose(a.normalized!, b.normalized!);
    assertRowsClose(a.normalized!, a.vectors.map(l2Normalize));
    assert.ok(Math.abs(Math.hypot(...a.normalized![0]) - 1) < 1e-6);
  } finally {
    await Promise.all([inGraph.close(), onHost.close()]);
  }
});

test('shape padding (sequence and batch multiples) leaves the vectors unchanged', async () => {
  const manifest = readManifest(TINY_BERT);
  const plain = await OrtBackend.start('tiny', manifest, { device: 'cpu', intraOpThreads: 1, seqMultiple: 1, batchMultiple: 1 });
  const padded = await OrtBackend.start('tiny', manifest, { device: 'cpu', intraOpThreads: 1, seqMultiple: 16, batchMultiple: 8 });
  try {
    const batch = {
      inputs: [
        { ids: Uint32Array.from([101, 7592, 2088, 102]) },
        { ids: Uint32Array.from([101, 1037, 1996, 4248, 2829, 102]) },
        { ids: Uint32Array.from([101, 102]) },
      ],
    };
    const [a, b] = [await plain.embed(batch), await padded.embed(batch)];
    assert.equal(b.vectors.length, 3, 'filler rows are dropped');
    assert.equal(b.normalized!.length, 3, 'filler rows are dropped');
    assertRowsClose(a.vectors, b.vectors);
    assertRowsClose(a.normalized!, b.normalized!);
  } finally {
    await Promise.all([plain.close(), padded.close()]);
  }
});

test('shape buckets pad to length x32 and row buckets, warm every bucket at load, and leave the vectors unchanged', async () => {
  const manifest = readManifest(TINY_BERT); // max length 64: lengths 32 and 64
  const plain = await OrtBackend.start('tiny', manifest, { device: 'cpu', intraOpThreads: 1 });
  const bucketed = await OrtBackend.start('tiny', manifest, { device: 'cpu', intraOpThreads: 1, shapeBuckets: 'on', warmupTokens: 256, warmupRows: 24 });
  try {
    assert.equal(plain.warmup.shapes, 0);
    // length 32: up to min(24, 256 / 1) = 24 rows -> 1, 2, 4, 8, 16, 24; length 64: up to min(24, 256 / 33) = 7 -> 1, 2, 4, 8
    assert.equal(bucketed.warmup.shapes, 10);
    const batch = {
      inputs: [
        { ids: Uint32Array.from([101, 7592, 2088, 102]) },
        { ids: Uint32Array.from([101, 1037, 1996, 4248, 2829, 102]) },
        { ids: Uint32Array.from([101, 102]) },
      ],
    };
    const [a, b] = [await plain.embed(batch), await bucketed.embed(batch)];
    assert.equal(b.vectors.length, 3);
    assertRowsClose(a.vectors, b.vectors);
  } finally {
    await Promise.all([plain.close(), bucketed.close()]);
  }
});
