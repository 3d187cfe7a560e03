/** --api-key and --cors-allow-origin over HTTP (main thread and HTTP threads) and gRPC, against the real server. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { Coalesce } from '../../../src/server.js';
import { post, startServer } from '../../helpers/server.js';
import { call, client, failure } from '../grpc/client.js';

const KEYS = 'old-key-0123,new-key-4567';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

for (const threads of ['0', '1']) {
  describe(`HTTP with --http-threads ${threads}`, () => {
    let server: Coalesce;
    before(async () => {
      server = await startServer(['--api-key', KEYS, '--cors-allow-origin', 'https://app.example', '--http-threads', threads]);
    });
    after(() => server.close());

    test("every route but /health and /metrics needs one of the keys; 401 in the route's error shape", async () => {
      const none = await post(server.httpUrl, '/embed', { inputs: 'hi' });
      assert.equal(none.status, 401);
      assert.deepEqual(Object.keys(none.json).sort(), ['error', 'error_type']);
      assert.equal(none.json.error_type, 'Unauthorized');
      const wrong = await post(server.httpUrl, '/v1/embeddings', { input: 'hi' }, bearer('old-key-012'));
      assert.equal(wrong.status, 401);
      assert.equal(wrong.json.error.code, 'Unauthorized');
      for (const key of KEYS.split(',')) assert.equal((await post(server.httpUrl, '/embed', { inputs: 'hi' }, bearer(key))).status, 200, key);
      assert.equal((await fetch(server.httpUrl + '/info')).status, 401);
      assert.equal((await fetch(server.httpUrl + '/info', { headers: bearer('new-key-4567') })).status, 200);
      assert.equal((await fetch(server.httpUrl + '/health')).status, 200);
      assert.equal((await fetch(server.httpUrl + '/metrics')).status, 200);
      assert.equal((await fetch(server.httpUrl + '/no-such-route')).status, 401);
    });

    test('the keys never show in /info or /metrics', async () => {
      const text = JSON.stringify(await (await fetch(server.httpUrl + '/info', { headers: bearer('old-key-0123') })).json());
      const metrics = await (await fetch(server.httpUrl + '/metrics')).text();
      for (const key of KEYS.split(',')) {
        assert.ok(!text.includes(key));
        assert.ok(!metrics.includes(key));
      }
    });

    test('CORS: a preflight from an allowed origin is 204 with methods and headers; other origins get no allow-origin', async () => {
      const preflight = await fetch(server.httpUrl + '/embed', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /content-type/);
      assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
      assert.match(preflight.headers.get('vary') ?? '', /Origin/);
      const allowed = await post(server.httpUrl, '/embed', { inputs: 'hi' }, { origin: 'https://app.example', ...bearer('old-key-0123') });
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
      const other = await post(server.httpUrl, '/embed', { inputs: 'hi' }, { origin: 'https://evil.example', ...bearer('old-key-0123') });
      assert.equal(other.status, 200);
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      assert.match(other.headers.get('vary') ?? '', /Origin/);
    });
  });
}

describe('gRPC with --api-key', () => {
  let server: Coalesce;
  before(async () => {
    server = await startServer(['--api-key', KEYS]);
  });
  after(() => server.close());

  test('services need the key as authorization metadata; health does not', async () => {
    const embed = client(server.grpcUrl!, 'tei', 'Embed');
    const health = client(server.grpcUrl!, 'health', 'Health');
    try {
      const error = await failure(call(embed, 'Embed', { inputs: 'hi' }));
      assert.equal(error.code, grpc.status.UNAUTHENTICATED);
      assert.equal(error.metadata.get('x-error-type')[0], 'Unauthorized');
      const wrong = new grpc.Metadata();
      wrong.set('authorization', 'Bearer nope');
      assert.equal((await failure(call(embed, 'Embed', { inputs: 'hi' }, {}, wrong))).code, grpc.status.UNAUTHENTICATED);
      const right = new grpc.Metadata();
      right.set('authorization', 'Bearer new-key-4567');
      assert.equal((await call(embed, 'Embed', { inputs: 'hi' }, {}, right)).embeddings.length, 32);
      assert.deepEqual({ ...(await call(health, 'Check', { service: '' })) }, { status: 1 });
    } finally {
      embed.close();
      health.close();
    }
  });
});

test('without --api-key nothing needs a key and no CORS headers are sent', async () => {
  const server = await startServer();
  try {
    const r = await post(server.httpUrl, '/embed', { inputs: 'hi' }, { origin: 'https://app.example' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  } finally {
    await server.close();
  }
});

test('--api-key-metrics protects /metrics too', async () => {
  const server = await startServer(['--api-key', 'k-1', '--api-key-metrics', '--grpc-port', '-1']);
  try {
    assert.equal((await fetch(server.httpUrl + '/metrics')).status, 401);
    assert.equal((await fetch(server.httpUrl + '/metrics', { headers: bearer('k-1') })).status, 200);
    assert.equal((await fetch(server.httpUrl + '/health')).status, 200);
  } finally {
    await server.close();
  }
});
