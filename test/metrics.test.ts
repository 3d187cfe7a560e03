/**
 * /metrics: TEI's metric names stay (dashboards), each server has its own registry, and a real
 * scrape passes `promtool check metrics` when promtool is installed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Metrics } from '../src/metrics.js';
import type { Coalesce } from '../src/server.js';
import { post, startServer } from './helpers/server.js';

/** Every name src/metrics.ts exported before prom-client (TEI's te_* and Coalesce's own), and TEI's added since. */
const TEI_NAMES = {
  untyped: ['te_request_count', 'te_request_success', 'te_request_failure'],
  histogram: [
    'te_request_duration',
    'te_request_tokenization_duration',
    'te_request_queue_duration',
    'te_request_inference_duration',
    'te_batch_next_size',
    'te_batch_next_tokens',
    'te_batch_inference_duration',
    'coalesce_batch_session_duration',
  ],
  counter: [
    'te_request_count_total',
    'te_request_success_total',
    'te_request_failure_total',
    'coalesce_batch_tokens_total',
    'coalesce_batch_padded_tokens_total',
  ],
  gauge: ['te_queue_size', 'te_requests_in_progress'],
};

/** name -> value of the unlabelled samples of a Prometheus text scrape. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/gm)) out.set(m[1], Number(m[2]));
  return out;
}

const types = (text: string) => new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));

let server: Coalesce;
before(async () => {
  server = await startServer(['--event-loop-metrics']);
});
after(() => server.close());

async function scrape(): Promise<string> {
  const res = await fetch(server.httpUrl + '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

test("a scrape carries TEI's names with their types, and counts what the server did", async () => {
  const before = samples(await scrape());
  assert.equal((await post(server.httpUrl, '/embed', { inputs: ['hello metrics', 'two'] })).status, 200);
  assert.equal((await post(server.httpUrl, '/embed', { inputs: 'too long '.repeat(100), truncate: false })).status, 422);
  const text = await scrape();
  const typeOf = types(text);
  for (const [type, names] of Object.entries(TEI_NAMES)) for (const name of names) assert.equal(typeOf.get(name), type, name);
  for (const stat of ['mean', 'p50', 'p90', 'p99', 'max']) assert.equal(typeOf.get(`nodejs_eventloop_lag_${stat}_seconds`), 'gauge', stat);

  const now = samples(text);
  const delta = (name: string) => now.get(name)! - (before.get(name) ?? 0);
  assert.equal(delta('te_request_count'), 2);
  assert.equal(delta('te_request_success'), 1);
  assert.equal(delta('te_request_failure'), 1);
  for (const name of ['te_request_count', 'te_request_success', 'te_request_failure']) assert.equal(now.get(name), now.get(`${name}_total`), name);
  assert.equal(delta('te_request_duration_count'), 1, 'only answered requests carry timings');
  assert.equal(delta('te_request_inference_duration_count'), 1);
  assert.ok(delta('te_batch_next_size_sum') >= 2);
  assert.ok(delta('te_batch_next_tokens_sum') >= 4 && delta('te_batch_next_tokens_sum') <= delta('coalesce_batch_tokens_total'));
  assert.ok(now.get('te_request_duration_bucket{le="+Inf"}')! >= 1);
  // Memory, as prom-client names it: resident above the heap, which holds more than it uses.
  for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes']) {
    assert.equal(typeOf.get(name), 'gauge', name);
  }
  assert.ok(now.get('nodejs_heap_size_used_bytes')! > 0 && now.get('nodejs_heap_size_used_bytes')! <= now.get('nodejs_heap_size_total_bytes')!);
  assert.ok(now.get('process_resident_memory_bytes')! > now.get('nodejs_heap_size_total_bytes')!);
});

test('promtool check metrics accepts a real scrape', async (t) => {
  const version = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) {
    t.skip('promtool is not installed (Debian: apt-get install prometheus)');
    return;
  }
  assert.equal((await post(server.httpUrl, '/embed', { inputs: 'lint me' })).status, 200);
  const text = await scrape();
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  // promtool lints what it is given: a bad exposition must fail, or this test proves nothing.
  const bad = spawnSync('promtool', ['check', 'metrics'], {
    input: '# HELP x_seconds_count c\n# TYPE x_seconds_count counter\nx_seconds_count 1\n',
    encoding: 'utf8',
  });
  assert.notEqual(bad.status, 0);
});

test('each Metrics has its own registry: two in one process count apart', async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.requestObserver.requestStarted();
  a.requestObserver.requestFinished(true, { tokenizationMs: 1, queueMs: 2, inferenceMs: 3, totalMs: 7 });
  a.observeBatch({ size: 3, units: 30, useful: 20, inferenceMs: 3 });
  assert.equal(await a.count(a.requests), 1);
  assert.equal(await b.count(b.requests), 0);
  assert.equal(await a.count(a.batchSize), 1);
  const text = samples(await a.render());
  assert.equal(text.get('te_request_queue_duration_sum'), 0.002);
  assert.equal(text.get('te_request_inference_duration_bucket{le="0.0025"}'), 0);
  assert.equal(text.get('te_request_inference_duration_bucket{le="0.005"}'), 1);
  assert.equal(text.get('te_batch_next_tokens_sum'), 20);
  assert.equal(text.get('coalesce_batch_padded_tokens_total'), 30);
  assert.equal(samples(await b.render()).get('te_request_count'), 0);
});
