import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readManifest } from '../../../src/model-prep/manifest.js';
import { OrtBackend } from '../../../src/backend/ort/ort-backend.js';
import { CudaGraphLane, replayDifference } from '../../../src/backend/ort/cuda-graph-lane.js';
import { padBatch } from '../../../src/backend/ort/tensors.js';
import { startServer, TINY_BERT } from '../../helpers/server.js';

// The CUDA-graph lane's buffers, bindings and copies, run on CPU memory (graphs themselves need a GPU:
// bench/gpu/experiments/ort-c-api/device.sh checks them there against onnxruntime-node).

function assertRowsClose(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => {
    assert.equal(v.length, b[i].length, `${what}: row ${i} length`);
    v.forEach((x, d) => assert.ok(Math.abs(x - b[i][d]) < 1e-5, `${what}: row ${i}[${d}]: ${x} vs ${b[i][d]}`));
  });
}

test('the lane gives what session.run gives for the same padded batch, shape after shape and back again', async () => {
  const file = `${TINY_BERT}/model.onnx`;
  const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const lane = CudaGraphLane.open({ model: file, deviceId: 0, outputs: ['last_hidden_state'], mode: 'cpu-simulation' });
  try {
    const batches = [
      [[101, 7592, 2088, 102]],
      [
        [101, 1037, 1996, 4248, 2829, 102],
        [101, 102],
      ],
      [[101, 2054, 2003, 102]],
      [[101, 7592, 2088, 102]],
    ];
    const seen = new Set<string>();
    for (const rows of batches) {
      const lengths = Uint32Array.from(rows, (r) => r.length);
      const padded = padBatch(Uint32Array.from(rows.flat()), new Uint8Array(lengths.reduce((a, b) => a + b, 0)), lengths, 'int64', {
        seqMultiple: 8,
        rowBuckets: true,
      });
      const key = `${padded.rows}x${padded.seqLen}`;
      if (!seen.has(key)) {
        assert.equal(lane.run(padded), null, 'a shape not captured is left to session.run');
        lane.capture(padded);
        seen.add(key);
      }
      const [out] = lane.run(padded)!;
      const shape = [padded.rows, padded.seqLen];
      const expected = await session.run({
        input_ids: new ort.Tensor('int64', padded.ids, shape),
        attention_mask: new ort.Tensor('int64', padded.mask, shape),
        token_type_ids: new ort.Tensor('int64', padded.typeIds, shape),
      });
      assertRowsClose([out], [expected.last_hidden_state.data as Float32Array], `${rows.length} rows`);
    }
    assert.equal(lane.shapes, seen.size);
    assert.equal(seen.size, 2);
  } finally {
    lane.close();
    await session.release();
  }
});

test('a lane over a model it cannot feed, or an output it does not have, fails with the reason', () => {
  assert.throws(
    () => CudaGraphLane.open({ model: `${TINY_BERT}/model.onnx`, deviceId: 0, outputs: ['no_such_output'], mode: 'cpu-simulation' }),
    /the model has no output 'no_such_output' \(outputs: last_hidden_state\)/,
  );
  assert.throws(() => CudaGraphLane.open({ model: '/nonexistent/model.onnx', deviceId: 0, outputs: ['x'], mode: 'cpu-simulation' }), /File doesn't exist/);
});

test('a session thread with the lane serves the same vectors as without it, and says what it captured', async () => {
  const manifest = readManifest(TINY_BERT);
  const base = { device: 'cpu', intraOpThreads: 1, shapeBuckets: 'on' as const };
  const plain = await OrtBackend.start('tiny', manifest, base);
  const laned = await OrtBackend.start('tiny', manifest, { ...base, cudaGraphs: 'cpu-simulation' });
  const onCpu = await OrtBackend.start('tiny', manifest, { ...base, cudaGraphs: 'on' });
  const fewer = await OrtBackend.start('tiny', manifest, { ...base, cudaGraphs: 'cpu-simulation', cudaGraphTokens: 64 });
  try {
    assert.ok(
      laned.notes.some((n) =>
        /--cuda-graphs cpu-simulation: 12 shapes \(padded batches of up to 1024 tokens: up to 32 inputs, up to 64 tokens each\) captured and checked against session.run/.test(
          n,
        ),
      ),
      laned.notes.join('; '),
    );
    // 1 and 2 inputs of 32 tokens, 1 of 64.
    assert.ok(
      fewer.notes.some((n) => /--cuda-graphs cpu-simulation: 3 shapes \(padded batches of up to 64 tokens: up to 2 inputs, up to 64 tokens each\)/.test(n)),
      fewer.notes.join('; '),
    );
    assert.ok(
      onCpu.notes.some((n) => /--cuda-graphs on: not used because it needs the CUDA provider/.test(n)),
      onCpu.notes.join('; '),
    );
    const long = Uint32Array.from({ length: 50 }, (_, i) => (i === 0 ? 101 : i === 49 ? 102 : 2000 + i));
    const batches = [
      { inputs: [{ ids: Uint32Array.from([101, 7592, 2088, 102]) }] },
      {
        inputs: [
          { ids: Uint32Array.from([101, 7592, 2088, 102]) },
          { ids: Uint32Array.from([101, 1037, 1996, 4248, 2829, 102]) },
          { ids: Uint32Array.from([101, 102]) },
        ],
      },
      { inputs: [{ ids: long }] },
      // Padded to 16 x 32 tokens: captured.
      { inputs: Array.from({ length: 9 }, (_, i) => ({ ids: Uint32Array.from([101, 2000 + i, 102]) })) },
      // Padded to 40 x 32 tokens, past --cuda-graph-tokens: session.run answers it.
      { inputs: Array.from({ length: 33 }, (_, i) => ({ ids: Uint32Array.from([101, 2000 + i, 102]) })) },
    ];
    for (const batch of batches) {
      const [a, b] = [await plain.embed(batch), await laned.embed(batch)];
      assertRowsClose(b.vectors, a.vectors, `${batch.inputs.length} inputs, raw`);
      assertRowsClose(b.normalized!, a.normalized!, `${batch.inputs.length} inputs, normalized`);
    }
  } finally {
    await Promise.all([plain.close(), laned.close(), onCpu.close(), fewer.close()]);
  }
});

test('--cuda-graphs on where it cannot apply: the model is served as usual and /info says why', async () => {
  const server = await startServer(['--cuda-graphs', 'on', '--shape-buckets', 'on']);
  try {
    const info = (await (await fetch(`${server.httpUrl}/info`)).json()) as { session_notes: string[]; config: Record<string, unknown> };
    assert.deepEqual(info.session_notes, ['--cuda-graphs on: not used because it needs the CUDA provider']);
    const embed = await fetch(`${server.httpUrl}/embed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: 'hello world' }),
    });
    assert.equal(embed.status, 200);
    assert.equal(((await embed.json()) as number[][]).length, 1);
  } finally {
    await server.close();
  }
});

test('a replay that reads stale inputs is told apart from float noise', () => {
  const expected = Float32Array.from([0.5, -2, 3, 0.25]);
  assert.equal(replayDifference(expected, Float32Array.from([0.5, -2, 3, 0.25, 99])), null, 'values past the expected rows are filler');
  assert.equal(replayDifference(expected, Float32Array.from([0.5002, -2.001, 3, 0.25])), null);
  assert.equal(replayDifference(expected, Float32Array.from([0.5, -2, 3.5, 0.25])), 'max abs difference 5.00e-1');
  assert.match(replayDifference(expected, Float32Array.from([NaN, -2, 3, 0.25])) ?? 'agrees', /NaN/);
});
