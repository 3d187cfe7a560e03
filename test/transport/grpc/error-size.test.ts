/**
 * gRPC errors whose message would echo a huge client string: grpc-js can stall the whole HTTP/2
 * connection on ~100 KB of status details, so the answer must be short and the channel live after.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { Coalesce } from '../../../src/server.js';
import { startServer } from '../../helpers/server.js';
import { call, client, failure } from './client.js';

let server: Coalesce;
before(async () => {
  server = await startServer();
});
after(() => server.close());

const huge = 'p'.repeat(200_000);

test('a 200 KB prompt_name answers INVALID_ARGUMENT briefly, and the same channel serves the next call', async () => {
  const embed = client(server.grpcUrl!, 'tei', 'Embed');
  try {
    const error = await failure(call(embed, 'Embed', { inputs: 'hello', prompt_name: huge }, { deadline: Date.now() + 30_000 }));
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT, error.details);
    assert.ok(error.details.length < 1100, `${error.details.length} characters of details`);
    const ok = await call(embed, 'Embed', { inputs: 'hello' }, { deadline: Date.now() + 30_000 });
    assert.equal(ok.embeddings.length, 32);
  } finally {
    embed.close();
  }
});

test('health: a 200 KB unknown service name answers NOT_FOUND briefly, and the channel stays usable', async () => {
  const health = client(server.grpcUrl!, 'health', 'Health');
  try {
    const error = await failure(call(health, 'Check', { service: huge }, { deadline: Date.now() + 30_000 }));
    assert.equal(error.code, grpc.status.NOT_FOUND);
    assert.ok(error.details.length < 1100);
    assert.deepEqual({ ...(await call(health, 'Check', { service: '' }, { deadline: Date.now() + 30_000 })) }, { status: 1 });
  } finally {
    health.close();
  }
});
