import { noTasks } from '../../../helpers/http-deps.js';
/** The calls between HTTP threads and the main thread, over a real MessageChannel with fake facades. */
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { test } from 'node:test';
import { CoalesceError } from '../../../../src/errors.js';
import type { HttpDeps } from '../../../../src/transport/http/app.js';
import { FacadeClient, remoteDeps } from '../../../../src/transport/http/threads/facade-client.js';
import { hostFacades } from '../../../../src/transport/http/threads/facade-host.js';
import type { CancelSignal } from '../../../../src/core/cancellation.js';
import type { EmbedRequest } from '../../../../src/core/embedder.js';
import type { ArrivalEncoderSpec } from '../../../../src/preprocess/arrival-encoder.js';
import { HfTokenizer } from '../../../../src/preprocess/tokenizer.js';
import { waitFor } from '../../../helpers/wait-for.js';

const timings = { tokenizationMs: 1, queueMs: 2, inferenceMs: 3, totalMs: 6 };
const textInfo = { id: 'fake', dimensions: 4, device: 'cpu', kind: 'embedding' };

function connect(deps: Partial<HttpDeps>, arrival: ArrivalEncoderSpec | null = null) {
  const { port1, port2 } = new MessageChannel();
  const full: HttpDeps = {
    embedder: {
      ...noTasks,
      info: textInfo as any,
      embed: async () => {
        throw new Error('unused');
      },
      tokenize: async () => [],
      decode: async () => [],
    },
    ready: () => true,
    modelName: 'fake',
    payloadLimit: 1000,
    info: () => ({ model_id: 'fake' }),
    metrics: () => 'te_request_count 0\n',
    ...deps,
  };
  hostFacades(port1, full);
  const client = new FacadeClient(port2);
  const remote = remoteDeps(client, {
    listen: { fd: -1 },
    modelName: 'fake',
    payloadLimit: 1000,
    textInfo: textInfo as any,
    imageInfo: null,
    arrival,
    connections: { counts: new SharedArrayBuffer(4), slot: 0 },
  });
  return {
    remote,
    client,
    close: () => {
      port1.close();
      port2.close();
    },
  };
}

test('a call returns what the facade returned; vectors arrive packed, not with the whole batch buffer', async () => {
  const batch = new Float32Array(1024).map((_, i) => i);
  const { remote, close } = connect({
    embedder: {
      ...noTasks,
      info: textInfo as any,
      embed: async (r) => ({ vectors: [batch.subarray(4, 8), batch.subarray(8, 12)], promptTokens: r.inputs.length * 3, timings }),
      tokenize: async () => [],
      decode: async (ids, skip) => ids.map((row) => `${row.join(' ')}:${skip}`),
    },
  });
  try {
    const [out, other] = await Promise.all([
      remote.embedder.embed({ inputs: ['a', 'b'], normalize: true }),
      remote.embedder.embed({ inputs: ['c', 'd'], normalize: true }),
    ]);
    assert.deepEqual(
      out.vectors.map((v) => [...v]),
      [
        [4, 5, 6, 7],
        [8, 9, 10, 11],
      ],
    );
    assert.deepEqual(
      other.vectors.map((v) => [...v]),
      [
        [4, 5, 6, 7],
        [8, 9, 10, 11],
      ],
    );
    // Answered in one turn: all four vectors share one buffer of exactly their size.
    const buffers = new Set([...out.vectors, ...other.vectors].map((v) => v.buffer));
    assert.equal(buffers.size, 1);
    assert.equal([...buffers][0].byteLength, 4 * 16);
    assert.equal(out.promptTokens, 6);
    assert.deepEqual(out.timings, timings);
    assert.equal(batch[4], 4, 'the host keeps its batch buffer intact');
    assert.deepEqual(await remote.embedder.decode([[1, 2]], false), ['1 2:false']);
    assert.equal(await remote.ready(), true);
    assert.deepEqual(await remote.info(), { model_id: 'fake' });
    assert.equal(await remote.metrics(), 'te_request_count 0\n');
    assert.equal(remote.embedder.info, textInfo as any);
    assert.equal(remote.images, undefined);
  } finally {
    close();
  }
});

test('errors keep their kind and param; other errors (bugs) become internal errors', async () => {
  let calls = 0;
  const { remote, close } = connect({
    embedder: {
      ...noTasks,
      info: textInfo as any,
      embed: async () => {
        calls++;
        if (calls === 1) throw new CoalesceError('validation', '`dimensions` is wrong', 'dimensions');
        throw new Error('the session died');
      },
      tokenize: async () => [],
      decode: async () => [],
    },
  });
  try {
    await assert.rejects(remote.embedder.embed({ inputs: ['a'], normalize: true }), (e: CoalesceError) => {
      assert.equal(e.isCoalesceError, true);
      assert.equal(e.kind, 'validation');
      assert.equal(e.param, 'dimensions');
      assert.match(e.message, /dimensions/);
      return true;
    });
    await assert.rejects(
      remote.embedder.embed({ inputs: ['a'], normalize: true }),
      (e: CoalesceError) => e.kind === 'internal' && /session died/.test(e.message),
    );
  } finally {
    close();
  }
});

test('aborting the request aborts the call on the main thread, which answers cancelled', async () => {
  let seen: CancelSignal | undefined;
  const { remote, client, close } = connect({
    embedder: {
      ...noTasks,
      info: textInfo as any,
      embed: (r) =>
        new Promise((_, reject) => {
          seen = r.signal;
          r.signal!.addEventListener('abort', () => reject(new CoalesceError('cancelled', 'the client cancelled the request')));
        }),
      tokenize: async () => [],
      decode: async () => [],
    },
  });
  try {
    const controller = new AbortController();
    const pending = remote.embedder.embed({ inputs: ['a'], normalize: true, signal: controller.signal });
    await waitFor(() => seen, { what: 'the call reaching the main thread' });
    assert.equal(seen!.aborted, false);
    assert.equal(client.inFlight, 1);
    controller.abort();
    await assert.rejects(pending, (e: CoalesceError) => e.kind === 'cancelled');
    assert.equal(seen!.aborted, true);
    assert.equal(client.inFlight, 0);
    await assert.rejects(
      remote.embedder.embed({ inputs: ['a'], normalize: true, signal: controller.signal }),
      (e: CoalesceError) => e.kind === 'cancelled',
      'an already aborted request is not sent',
    );
  } finally {
    close();
  }
});

test('when the main thread side closes, waiting calls fail as unhealthy instead of hanging', async () => {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', () => port1.close()); // takes the call, never answers
  const client = new FacadeClient(port2);
  await assert.rejects(client.call('server.info'), (e: CoalesceError) => e.kind === 'unhealthy');
  await assert.rejects(client.call('server.info'), (e: CoalesceError) => e.kind === 'unhealthy');
});

test('with an arrival encoder, plain ASCII texts reach the facade as token ids, and other requests as they were', async () => {
  const files = ['test/fixtures/tiny-bert/tokenizer.json', 'test/fixtures/tiny-bert/tokenizer_config.json'] as const;
  const tokenizer = HfTokenizer.fromFiles(...files, 64);
  const seen: EmbedRequest[] = [];
  const { remote, close } = connect(
    {
      embedder: {
        ...noTasks,
        info: textInfo as any,
        embed: async (r) => (seen.push(r), { vectors: [], promptTokens: 0, timings }),
        tokenize: async () => [],
        decode: async () => [],
      },
    },
    { tokenizerPath: files[0], configPath: files[1], maxLength: 64, ...tokenizer.specialIds()! },
  );
  try {
    await remote.embedder.embed({ inputs: ['Hello world!', 'a second text'], normalize: true });
    await remote.embedder.embed({ inputs: ['Hello world!', 'héllo'], normalize: true });
    const right = { truncate: false, direction: 'right' as const };
    assert.deepEqual(
      seen[0].encoded!.texts.map((e) => [...e.ids]),
      ['Hello world!', 'a second text'].map((t) => [...tokenizer.encode(t, right).ids]),
    );
    assert.ok(seen[0].encoded!.ms >= 0);
    assert.equal(seen[1].encoded, undefined);
    assert.deepEqual(seen[1].inputs, ['Hello world!', 'héllo']);
  } finally {
    close();
  }
});
