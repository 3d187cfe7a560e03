import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config.js';
import { startCoalesce } from '../src/server.js';
import { TINY_BERT } from './helpers/server.js';

test('bound to 0.0.0.0, the start log says what is bound; /info shows the config as given and as resolved', async () => {
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  const server = await startCoalesce(
    loadConfig(['--model', TINY_BERT, '--port', '0', '--grpc-port', '0', '--hostname', '0.0.0.0', '--max-input-length', '32'], {}),
    (message, fields) => lines.push({ message, fields }),
  );
  try {
    const listening = lines.find((l) => l.message === 'listening');
    assert.equal(listening?.fields?.http, `http://0.0.0.0:${server.httpPort}`);
    assert.equal(listening?.fields?.grpc, `0.0.0.0:${server.grpcPort}`);
    // Where a client on this machine connects stays separate from what is bound.
    assert.equal(server.httpUrl, `http://127.0.0.1:${server.httpPort}`);

    const info = (await (await fetch(server.httpUrl + '/info')).json()) as Record<string, any>;
    assert.equal(info.config.batchQueue, 'auto');
    assert.equal(info.config.sessions, 0);
    assert.equal(info.config.maxInputLength, 32);
    assert.deepEqual(
      [
        info.resolved.batchQueue,
        info.resolved.sessions,
        info.resolved.shapeBuckets,
        info.resolved.padSeqMultiple,
        info.resolved.maxInputLength,
        info.resolved.dtype,
      ],
      ['main', 1, false, 1, 32, 'float32'],
    );
    // The keys TEI clients read are unchanged, and agree with the resolved values.
    assert.equal(info.batch_queue, info.resolved.batchQueue);
    assert.equal(info.sessions, info.resolved.sessions);
    assert.equal(info.max_input_length, 32);
    assert.equal(info.model_dtype, 'float32');
    assert.equal(info.auto_truncate, true);
  } finally {
    await server.close();
  }
});
