/** The CLI fails at start, with one clear message and a non-zero exit, on models it cannot serve. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, within } from './helpers/wait-for.js';

const MAIN = 'dist/src/main.js';
const run = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, '--port', '0', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, PORT: '' } });
/** Tests that start the server as a process: on a loaded 2-core machine one start alone took 30 s. */
const SPAWNS = { timeout: 240_000 };

test('--help lists every option with its env var and default', SPAWNS, () => {
  const r = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /--max-batch-tokens <int>\s+Token budget[\s\S]*?\(default: 16384, env: MAX_BATCH_TOKENS\)/);
});

test('a bad option or value exits 2 naming it', SPAWNS, () => {
  const unknown = run('--max-batch-token', '5');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown option '--max-batch-token'/);
  const bad = run('--max-batch-tokens', 'lots');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--max-batch-tokens: 'lots' is not an integer/);
});

test('a TEI flag Coalesce does not support exits 2 saying so, without echoing its value', SPAWNS, () => {
  const r = run('--otlp-endpoint', 'http://collector.invalid:4317/never-printed');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--otlp-endpoint \(a TEI setting\) is not supported by Coalesce: Coalesce exports no OpenTelemetry traces/);
  assert.ok(!r.stderr.includes('never-printed'));
  const prometheus = run('--prometheus-port', '9000');
  assert.equal(prometheus.status, 2);
  assert.match(prometheus.stderr, /--prometheus-port \(a TEI setting\) is not supported/);
});

test('a corrupt ONNX file fails the start naming the file', SPAWNS, () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-corrupt-'));
  try {
    cpSync('test/fixtures/tiny-bert', dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), 'this is not a protobuf');
    const r = run('--model', dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot serve the model: .*model\.onnx: cannot be loaded by ONNX Runtime/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a config that contradicts the graph fails the start naming config.json', SPAWNS, () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-inconsistent-'));
  try {
    cpSync('test/fixtures/tiny-bert', dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 768, max_position_embeddings: 64 }));
    const r = run('--model', dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /config\.json: says hidden_size 768 but the graph outputs 32/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing model folder fails the start naming it', SPAWNS, () => {
  const r = run('--model', '/nonexistent/model');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/nonexistent\/model: is not a model folder/);
});

test('with HTTP threads, /info answers 200 from the first moment the port accepts connections', SPAWNS, async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const child = spawn(
    process.execPath,
    [MAIN, '--model', 'test/fixtures/tiny-bert', '--port', String(port), '--hostname', '127.0.0.1', '--grpc-port', '-1', '--http-threads', '2'],
    { stdio: 'ignore' },
  );
  try {
    // No answer: not listening yet. The first answer must already be a 200.
    const res = await waitFor(() => fetch(`http://127.0.0.1:${port}/info`).catch(() => null), {
      timeoutMs: 180_000,
      intervalMs: 5,
      what: 'an answer from /info',
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.match((JSON.parse(body) as { http: string }).http, /threads|starting/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('SIGTERM drains: every request admitted before it is answered, then the process exits 0', SPAWNS, async (t) => {
  const child = spawn(process.execPath, [MAIN, '--model', 'test/fixtures/tiny-bert', '--port', '0', '--grpc-port', '-1', '--hostname', '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
  // Keeps the test's event loop alive until the child has exited, whatever the sockets do.
  const keepAlive = setInterval(() => {}, 1000);
  exited.finally(() => clearInterval(keepAlive));
  let stderr = '';
  const url = await within(
    new Promise<string>((resolve) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /listening http=(\S+)[\s\S]*ready pid=/.exec(stderr);
        if (m) resolve(m[1]);
      });
    }),
    180_000,
    'the server to start',
  ).catch((e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}: ${stderr}`);
  });
  // Plain node:http, one connection per request: a connection the server closes shows up as an error at once.
  const { request } = await import('node:http');
  const send = (body: string) =>
    new Promise<string>((resolve) => {
      const req = request(url + '/embed', { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
        res.on('error', () => resolve('refused'));
      });
      req.on('error', () => resolve('refused'));
      req.end(body);
    });
  const requests = Array.from({ length: 64 }, (_, i) => send(JSON.stringify({ inputs: [`request ${i} `.repeat(10)] })));
  // Once the first answer is back the requests are reaching the server: stop it while the others are in flight.
  const first = await within(Promise.race(requests), 60_000, 'the first answer');
  assert.match(first, /^200 /);
  child.kill('SIGTERM');
  const outcomes = await within(Promise.all(requests), 60_000, 'every request to end');
  t.diagnostic(
    `after SIGTERM: ${outcomes.filter((o) => o.startsWith('200 ')).length} answered, ${outcomes.filter((o) => !o.startsWith('200 ')).length} refused, of ${outcomes.length}`,
  );
  // Admitted requests are answered; later ones are refused at admission (503 "not ready") or at connect.
  for (const o of outcomes) assert.match(o, /^200 |^503 .*not ready|^refused$/, `unexpected outcome ${o}`);
  assert.ok(!outcomes.some((o) => o.includes('shutting down')), 'an admitted request was dropped by the draining batcher');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /draining signal=SIGTERM/);
});
