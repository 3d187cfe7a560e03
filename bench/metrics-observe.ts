/**
 * What /metrics costs on the hot paths with prom-client: the request hooks (once per embedding
 * request: 2 counter increments, 4 histogram observations), the text batch hook (once per model
 * call: 3 observations, 2 increments) and a scrape, against the same work on plain arrays (what a
 * hand-written histogram does at least). Times are per call, median of several rounds.
 *
 * usage: node dist/bench/metrics-observe.js [--calls 200000] [--rounds 7] [--out bench/results]
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '../src/metrics.js';
import { flagValue } from './args.js';

const calls = Number(flagValue('calls', '200000'));
const rounds = Number(flagValue('rounds', '7'));
const out = flagValue('out', 'bench/results');

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The floor: counts, sum and a bucket scan on plain arrays, no labels, no registry. */
class PlainHistogram {
  readonly counts = new Float64Array(BUCKETS.length);
  sum = 0;
  count = 0;
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < BUCKETS.length; i++) if (v <= BUCKETS[i]) this.counts[i]++;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Nanoseconds per call of `fn(i)`, median over rounds (the first round warms up and is dropped). */
function time(fn: (i: number) => void, n = calls): number {
  const per: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    const ns = Number(process.hrtime.bigint() - t0) / n;
    if (r > 0) per.push(ns);
  }
  return median(per);
}

const ms = (i: number) => 0.5 + (i % 97) * 0.3;
const metrics = new Metrics();
const plain = { n: 0, ok: 0, h: [new PlainHistogram(), new PlainHistogram(), new PlainHistogram(), new PlainHistogram()] };

const rows = [
  {
    case: 'request hooks (started + finished with timings)',
    promClientNs: time((i) => {
      metrics.requestObserver.requestStarted();
      metrics.requestObserver.requestFinished(true, { tokenizationMs: ms(i), queueMs: ms(i + 1), inferenceMs: ms(i + 2), totalMs: ms(i + 3) * 3 });
    }),
    plainNs: time((i) => {
      plain.n++;
      plain.ok++;
      plain.h[0].observe((ms(i + 3) * 3) / 1000);
      plain.h[1].observe(ms(i) / 1000);
      plain.h[2].observe(ms(i + 1) / 1000);
      plain.h[3].observe(ms(i + 2) / 1000);
    }),
  },
  {
    case: 'text batch hook',
    promClientNs: time((i) => metrics.observeBatch({ size: 1 + (i % 64), units: 512, useful: 400, inferenceMs: ms(i), sessionMs: ms(i) * 0.9 })),
    plainNs: time((i) => {
      plain.h[0].observe(1 + (i % 64));
      plain.h[1].observe(ms(i) / 1000);
      plain.h[2].observe((ms(i) * 0.9) / 1000);
    }),
  },
];

// A scrape: async, so timed one at a time.
const scrapes: number[] = [];
for (let r = 0; r < 200; r++) {
  const t0 = process.hrtime.bigint();
  await metrics.render();
  scrapes.push(Number(process.hrtime.bigint() - t0) / 1000);
}
const scrapeUs = median(scrapes.slice(20));

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
const result = {
  date: new Date().toISOString(),
  commit,
  machine: { hostname: hostname(), cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, loadAverage1m: loadavg()[0] },
  calls,
  rounds,
  rows,
  scrapeUs,
};

const table = [
  '| hook | prom-client ns/call | plain arrays ns/call |',
  '| --- | ---: | ---: |',
  ...rows.map((r) => `| ${r.case} | ${r.promClientNs.toFixed(0)} | ${r.plainNs.toFixed(0)} |`),
].join('\n');
const md = [
  '# /metrics hot-path cost: prom-client against plain arrays',
  '',
  `${result.date}, commit ${commit}, ${result.machine.cores} x ${result.machine.cpu} (load average ${result.machine.loadAverage1m.toFixed(1)}), Node ${process.version}; ${calls} calls per round, median of ${rounds} rounds.`,
  '',
  table,
  '',
  `A scrape of the whole registry (${(await metrics.render()).length} bytes): ${scrapeUs.toFixed(0)} µs (median of 180).`,
  '',
].join('\n');
console.log(md);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'metrics-observe.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(out, 'metrics-observe.md'), md);
