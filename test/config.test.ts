import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, OPTIONS, helpText, loadConfig, publicConfig } from '../src/config.js';
import { TEI_FLAGS } from '../src/tei-flags.js';
import { ERROR_TYPE } from '../src/errors.js';
import { HTTP_STATUS } from '../src/transport/http/errors.js';
import { GRPC_STATUS } from '../src/transport/grpc/errors.js';

test('flag beats env var beats default', () => {
  assert.equal(loadConfig([], {}).port, 8080);
  assert.equal(loadConfig([], { PORT: '9000' }).port, 9000);
  assert.equal(loadConfig(['--port', '9100'], { PORT: '9000' }).port, 9100);
  assert.equal(loadConfig(['--port=9200'], {}).port, 9200);
  assert.equal(loadConfig([], { PORT: '' }).port, 8080, 'an empty variable counts as unset');
  assert.equal(loadConfig(['--grpc-port', '-1'], {}).grpcPort, -1);
});

test('booleans: bare flag, a value after it or after =, and the variable', () => {
  assert.equal(loadConfig([], {}).hubOffline, false);
  assert.equal(loadConfig(['--hub-offline'], {}).hubOffline, true);
  assert.equal(loadConfig(['--hub-offline', '--port', '1'], {}).hubOffline, true);
  assert.equal(loadConfig(['--hub-offline', 'no'], {}).hubOffline, false);
  assert.equal(loadConfig(['--hub-offline=off'], {}).hubOffline, false);
  assert.equal(loadConfig([], { HF_HUB_OFFLINE: '1' }).hubOffline, true);
  assert.equal(loadConfig(['--hub-offline', 'false'], { HF_HUB_OFFLINE: '1' }).hubOffline, false);
});

test('--auto-truncate defaults to true, as TEI 1.9', () => {
  assert.equal(OPTIONS.autoTruncate.default, true);
  assert.equal(loadConfig([], {}).autoTruncate, true);
  assert.equal(loadConfig(['--auto-truncate', 'false'], {}).autoTruncate, false);
  assert.equal(loadConfig([], { AUTO_TRUNCATE: 'false' }).autoTruncate, false);
});

test('bad values name the flag or the variable', () => {
  assert.throws(
    () => loadConfig(['--port', 'x'], {}),
    (e: Error) => e instanceof ConfigError && /--port: 'x' is not an integer/.test(e.message),
  );
  assert.throws(
    () => loadConfig([], { MAX_BATCH_TOKENS: '0' }),
    (e: Error) => e instanceof ConfigError && /MAX_BATCH_TOKENS: 0 is below the minimum 1/.test(e.message),
  );
  assert.throws(() => loadConfig(['--pooling', 'sum'], {}), /--pooling: 'sum' is not one of mean, cls, max, last_token/);
  assert.throws(() => loadConfig([], { DEVICE: 'gpu' }), /DEVICE: 'gpu' is not one of cpu, cuda, cuda:N, auto/);
  assert.throws(() => loadConfig(['--hub-offline', 'maybe'], {}), /--hub-offline: 'maybe' is not a boolean/);
  assert.throws(
    () => loadConfig(['--port'], {}),
    (e: Error) => e instanceof ConfigError && /--port/.test(e.message) && /argument missing/.test(e.message),
  );
  assert.throws(
    () => loadConfig(['--max-batch-token', '5'], {}),
    (e: Error) => e instanceof ConfigError && /unknown option '--max-batch-token'/.test(e.message),
  );
  assert.throws(() => loadConfig(['stray'], {}), ConfigError);
});

test('choices give typed values, and TEI spellings of them are accepted', () => {
  const c = loadConfig(['--batch-queue', 'shared', '--device', 'cuda:1', '--pooling', 'last-token'], {});
  const queue: 'auto' | 'shared' | 'main' = c.batchQueue;
  assert.equal(queue, 'shared');
  assert.equal(c.device, 'cuda:1');
  assert.equal(c.pooling, 'last_token');
});

test("TEI's names are aliases of the same options", () => {
  assert.equal(loadConfig(['--model-id', 'org/name'], {}).model, 'org/name');
  assert.equal(loadConfig([], { MODEL_ID: 'org/env' }).model, 'org/env');
  assert.equal(loadConfig(['-p', '3000'], {}).port, 3000);
  assert.equal(loadConfig(['--hf-api-token', 'hf_a'], {}).hubToken, 'hf_a');
  assert.equal(loadConfig([], { HF_API_TOKEN: 'hf_b' }).hubToken, 'hf_b');
  assert.equal(loadConfig([], { HF_API_TOKEN: 'hf_b', HF_TOKEN: 'hf_c' }).hubToken, 'hf_c', "the option's own variable comes first");
  assert.throws(() => loadConfig(['--model', 'a', '--model-id', 'b'], {}), /--model and --model-id name the same option/);
});

test('--json-output / JSON_OUTPUT mean --log-format json, and contradicting it is an error', () => {
  assert.equal(loadConfig([], {}).logFormat, 'text');
  assert.equal(loadConfig(['--json-output'], {}).logFormat, 'json');
  assert.equal(loadConfig([], { JSON_OUTPUT: 'true' }).logFormat, 'json');
  assert.equal(loadConfig(['--json-output', 'false'], {}).logFormat, 'text');
  assert.equal(loadConfig(['--json-output', '--log-format', 'json'], {}).logFormat, 'json');
  assert.throws(() => loadConfig(['--json-output'], { LOG_FORMAT: 'text' }), /--json-output asks for --log-format json, but LOG_FORMAT says 'text'/);
  assert.equal(loadConfig(['--disable-spans'], {}).logFormat, 'text', 'disable-spans is accepted and changes nothing');
});

test('--dtype: float32 / float16 / int8 only, and not together with an explicit file choice', () => {
  assert.equal(loadConfig([], {}).dtype, null);
  assert.equal(loadConfig(['--dtype', 'float16'], {}).dtype, 'float16');
  assert.equal(loadConfig([], { DTYPE: 'float32' }).dtype, 'float32');
  assert.equal(loadConfig([], { DTYPE: 'int8' }).dtype, 'int8');
  assert.throws(() => loadConfig(['--dtype', 'bfloat16'], {}), /--dtype: 'bfloat16' is not one of float32, float16, int8/);
  assert.throws(() => loadConfig(['--dtype', 'float16', '--onnx-file', 'x.onnx'], {}), /--dtype and --onnx-file cannot be used together/);
  assert.throws(() => loadConfig(['--onnx-variant', 'q8'], { DTYPE: 'float16' }), /DTYPE and --onnx-variant cannot be used together/);
});

test('int8 (--dtype int8, --quantize dynamic-int8) is CPU-only, and --quantize takes float32 weights only', () => {
  assert.equal(loadConfig([], {}).quantize, 'none');
  assert.equal(loadConfig([], { QUANTIZE: 'dynamic-int8' }).quantize, 'dynamic-int8');
  assert.equal(loadConfig(['--quantize', 'dynamic-int8', '--dtype', 'float32', '--device', 'cpu'], {}).quantize, 'dynamic-int8');
  assert.throws(() => loadConfig(['--quantize', 'static'], {}), /--quantize: 'static' is not one of none, dynamic-int8/);
  assert.throws(
    () => loadConfig(['--quantize', 'dynamic-int8', '--device', 'cuda'], {}),
    /--quantize dynamic-int8 runs on the CPU only, but --device is 'cuda': give --device cpu/,
  );
  assert.throws(() => loadConfig(['--dtype', 'int8'], { DEVICE: 'auto' }), /--dtype int8 runs on the CPU only, but DEVICE is 'auto'/);
  assert.throws(
    () => loadConfig(['--quantize', 'dynamic-int8', '--dtype', 'float16'], {}),
    /--quantize dynamic-int8 quantizes float32 weights; --dtype float16/,
  );
  assert.throws(() => loadConfig(['--quantize', 'dynamic-int8'], { DTYPE: 'int8' }), /quantizes float32 weights; DTYPE int8/);
  // Neither asked for: any device is fine.
  assert.equal(loadConfig(['--device', 'cuda'], {}).device, 'cuda');
});

test('default prompt options: either one, never both (as TEI)', () => {
  assert.equal(loadConfig(['--default-prompt-name', 'query'], {}).defaultPromptName, 'query');
  assert.equal(loadConfig([], { DEFAULT_PROMPT: 'query: ' }).defaultPrompt, 'query: ');
  assert.deepEqual([loadConfig([], {}).defaultPrompt, loadConfig([], {}).defaultPromptName], [null, null]);
  assert.throws(
    () => loadConfig(['--default-prompt', 'q: '], { DEFAULT_PROMPT_NAME: 'query' }),
    /--default-prompt and DEFAULT_PROMPT_NAME cannot be used together|DEFAULT_PROMPT_NAME and --default-prompt cannot be used together/,
  );
});

test("every one of TEI 1.9.3's flags is mapped: an option takes it, or it is a switch, a no-op or refused", () => {
  const teiFlags = [
    'model-id',
    'revision',
    'tokenization-workers',
    'dtype',
    'pooling',
    'max-concurrent-requests',
    'max-batch-tokens',
    'max-batch-requests',
    'max-client-batch-size',
    'auto-truncate',
    'default-prompt-name',
    'default-prompt',
    'hf-api-token',
    'hf-token',
    'hostname',
    'port',
    'uds-path',
    'huggingface-hub-cache',
    'payload-limit',
    'api-key',
    'json-output',
    'disable-spans',
    'otlp-endpoint',
    'otlp-service-name',
    'prometheus-port',
    'cors-allow-origin',
    'dense-path',
    'served-model-name',
    'device-id',
  ];
  assert.deepEqual(TEI_FLAGS.map((t) => t.flag).sort(), teiFlags.map((f) => `--${f}`).sort());
  const claimed = new Set(Object.values(OPTIONS).flatMap((o) => [o.flag, ...('aliases' in o && o.aliases ? o.aliases : [])]));
  for (const t of TEI_FLAGS.filter((t) => t.kind === 'option')) assert.ok(claimed.has(t.flag), `no option takes ${t.flag}`);
});

test('a TEI flag Coalesce does not support stops the start, given as a flag or as its variable', () => {
  const refused = TEI_FLAGS.filter((t) => t.kind === 'refused' && !Object.values(OPTIONS).some((o) => o.flag === t.flag));
  assert.ok(refused.some((t) => t.flag === '--dense-path'));
  for (const t of refused) {
    assert.throws(
      () => loadConfig([t.flag, 'value'], {}),
      (e: Error) => e instanceof ConfigError && e.message.startsWith(`${t.flag} (a TEI setting) is not supported by Coalesce: `),
      t.flag,
    );
    assert.throws(
      () => loadConfig([], { [t.env]: 'value' }),
      (e: Error) => e instanceof ConfigError && e.message.startsWith(`${t.env} (a TEI setting) is not supported`),
      t.env,
    );
    assert.doesNotThrow(() => loadConfig([], { [t.env]: '' }), 'an empty variable is unset');
  }
});

test('--api-key and API_KEY are taken as TEI names them, and /info never shows the keys', () => {
  for (const config of [
    loadConfig(['--api-key', 'sk-secret-1,sk-secret-2'], {}),
    loadConfig(['--api-key=sk-secret-1,sk-secret-2'], {}),
    loadConfig([], { API_KEY: 'sk-secret-1,sk-secret-2' }),
  ]) {
    assert.equal(config.apiKey, 'sk-secret-1,sk-secret-2');
    const shown = JSON.stringify(publicConfig(config));
    assert.ok(!shown.includes('sk-secret'), shown);
  }
  assert.equal(loadConfig(['--cors-allow-origin', '*'], {}).corsAllowOrigin, '*');
});

test('/info never shows the Hub token', () => {
  const shown = publicConfig(loadConfig(['--hf-token', 'hf_secret'], {}));
  assert.equal(shown.hubToken, '***');
  assert.ok(!JSON.stringify(shown).includes('hf_secret'));
  assert.equal(publicConfig(loadConfig([], {})).hubToken, null);
});

test('/info masks the user:password of a URL option (a Hub mirror behind basic auth)', () => {
  const shown = publicConfig(loadConfig(['--hub-endpoint', 'https://me:s3cret@mirror.example:8443/hub'], {}));
  assert.equal(shown.hubEndpoint, 'https://***@mirror.example:8443/hub');
  assert.ok(!JSON.stringify(shown).includes('s3cret'));
  assert.equal(publicConfig(loadConfig([], {})).hubEndpoint, 'https://huggingface.co');
});

test('--help comes from the table: every option with its variable, and the TEI names', () => {
  const help = helpText();
  for (const spec of Object.values(OPTIONS)) {
    assert.ok(help.includes(spec.flag + ' '), `help lacks ${spec.flag}`);
    assert.ok(help.includes(spec.env), `help lacks ${spec.env}`);
  }
  for (const t of TEI_FLAGS) assert.ok(help.includes(t.flag), `help lacks ${t.flag}`);
});

test('every error kind has an error_type, an HTTP status and a gRPC code', () => {
  const kinds = Object.keys(ERROR_TYPE);
  assert.deepEqual(Object.keys(HTTP_STATUS).sort(), [...kinds].sort());
  assert.deepEqual(Object.keys(GRPC_STATUS).sort(), [...kinds].sort());
  for (const k of kinds) assert.ok(HTTP_STATUS[k as keyof typeof HTTP_STATUS] >= 400);
});
