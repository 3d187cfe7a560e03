import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, OPTIONS, loadConfig, publicConfig } from '../src/config.js';
import { ERROR_TYPE } from '../src/errors.js';
import { HTTP_STATUS } from '../src/transport/http/errors.js';
import { GRPC_STATUS } from '../src/transport/grpc/errors.js';

test('flag beats env var beats default', () => {
  assert.equal(loadConfig([], {}).port, 8080);
  assert.equal(loadConfig([], { PORT: '9000' }).port, 9000);
  assert.equal(loadConfig(['--port', '9100'], { PORT: '9000' }).port, 9100);
  assert.equal(loadConfig(['--port=9200'], {}).port, 9200);
  assert.equal(loadConfig(['--auto-truncate'], {}).autoTruncate, true);
  assert.equal(loadConfig(['--auto-truncate', 'false'], {}).autoTruncate, false);
  assert.equal(loadConfig([], { AUTO_TRUNCATE: 'true' }).autoTruncate, true);
});

test('bad values name the flag or the variable', () => {
  assert.throws(() => loadConfig(['--port', 'x'], {}), (e: Error) => e instanceof ConfigError && /--port/.test(e.message));
  assert.throws(() => loadConfig([], { MAX_BATCH_TOKENS: '0' }), (e: Error) => e instanceof ConfigError && /MAX_BATCH_TOKENS: 0 is below the minimum 1/.test(e.message));
  assert.throws(() => loadConfig(['--pooling', 'sum'], {}), /not one of mean, cls, max, last_token/);
  assert.throws(() => loadConfig(['--port'], {}), /--port needs a value/);
});

test('/info never shows the Hub token', () => {
  const shown = publicConfig(loadConfig(['--hf-token', 'hf_secret'], {}));
  assert.equal(shown.hubToken, '***');
  assert.ok(!JSON.stringify(shown).includes('hf_secret'));
});

test('every option is documented in the README with its flag and env var', () => {
  const readme = readFileSync('README.md', 'utf8');
  for (const spec of Object.values(OPTIONS)) {
    assert.ok(readme.includes(`\`${spec.flag}\``), `README lacks ${spec.flag}`);
    assert.ok(readme.includes(`\`${spec.env}\``), `README lacks ${spec.env}`);
  }
});

test('every error kind has an error_type, an HTTP status and a gRPC code', () => {
  const kinds = Object.keys(ERROR_TYPE);
  assert.deepEqual(Object.keys(HTTP_STATUS).sort(), [...kinds].sort());
  assert.deepEqual(Object.keys(GRPC_STATUS).sort(), [...kinds].sort());
  for (const k of kinds) assert.ok(HTTP_STATUS[k as keyof typeof HTTP_STATUS] >= 400);
});
