/**
 * One process, several device groups and several models:
 * - data parallel: W1 (32 texts of ~128 tokens per request, 64 clients) and W2 (one text per
 *   request, 256 clients) against the same model on each --device spec given (e.g. `cuda:0` then
 *   `cuda:0,cuda:1`), throughput relative to the first spec;
 * - two models in one process: each alone, then both under their own load at the same time
 *   (through /models/<name>/embed), with each one's throughput relative to its alone figure.
 *
 *   node dist/bench/multi-device.js [--model test/fixtures/tiny-bert] [--devices "cpu;cpu,cpu"]
 *     [--second-model test/fixtures/tiny-siglip] [--pair-device cpu] [--duration 10] [--warmup 3]
 *     [--w1-clients 64] [--w2-clients 256] [--server-flags "..."] [--out multi-device-cpu]
 *
 * Writes bench/results/<out>.{json,md}. On a GPU machine: --devices "cuda:0;cuda:0,cuda:1" (or
 * "cuda:0;cuda:0,cuda:0" on one GPU, as two device groups), --pair-device cuda:0, and the CUDA
 * provider installed (scripts/install-cuda-provider.sh).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { flagValue } from './args.js';
import { httpDriver } from './drivers/http-driver.js';
import { runLoad, type LoadResult, type LoadWorkload } from './load.js';
import { startServer } from './server-process.js';
import { makeWorkload, rng, sentence } from './texts.js';

const MODEL = flagValue('model', 'test/fixtures/tiny-bert');
const DEVICES = flagValue('devices', 'cpu;cpu,cpu').split(';');
const SECOND = flagValue('second-model', null);
const PAIR_DEVICE = flagValue('pair-device', DEVICES[0]);
const DURATION_S = Number(flagValue('duration', '10'));
const WARMUP_S = Number(flagValue('warmup', '3'));
const W1_CLIENTS = Number(flagValue('w1-clients', '64'));
const W2_CLIENTS = Number(flagValue('w2-clients', '256'));
const SERVER_FLAGS = (flagValue('server-flags', '') ?? '').split(' ').filter(Boolean);
const OUT = flagValue('out', `multi-device-${DEVICES[0].split(':')[0]}`);

/** ~128 tokens: sentences joined until about 95 words (BERT's WordPiece gives ~1.3 tokens per word). */
function w1Workload(): LoadWorkload {
  const r = rng(7);
  const requests = Array.from({ length: 200 }, () =>
    Array.from({ length: 32 }, () => {
      let text = '';
      while (text.split(' ').length < 95) text += `${sentence(r)} `;
      return text.trim();
    }),
  );
  return { requests, tokens: requests.map((texts) => texts.length * 128) };
}

function w2Workload(): LoadWorkload {
  const { requests } = makeWorkload({ seed: 20240611, requests: 4000, singleShare: 1 });
  return { requests, tokens: requests.map((texts) => texts.reduce((n, t) => n + Math.round(t.split(' ').length * 1.3) + 2, 0)) };
}

const W1 = w1Workload();
const W2 = w2Workload();

async function load(url: string, path: string, workload: LoadWorkload, concurrency: number): Promise<LoadResult> {
  const driver = await httpDriver(url, { path });
  try {
    return await runLoad(driver, workload, { concurrency, warmupS: WARMUP_S, durationS: DURATION_S });
  } finally {
    driver.close();
  }
}

interface DeviceRun {
  device: string;
  w1: LoadResult;
  w2: LoadResult;
  models: unknown;
}

async function devicePhase(device: string): Promise<DeviceRun> {
  const server = await startServer({ model: MODEL, intraOpThreads: 0, extraArgs: ['--device', device, ...SERVER_FLAGS] });
  try {
    const models = ((await (await fetch(`${server.httpUrl}/v1/models`)).json()) as { data: unknown[] }).data;
    const w1 = await load(server.httpUrl, '/embed', W1, W1_CLIENTS);
    const w2 = await load(server.httpUrl, '/embed', W2, W2_CLIENTS);
    return { device, w1, w2, models };
  } finally {
    await server.stop();
  }
}

interface PairRun {
  aAlone: LoadResult;
  bAlone: LoadResult;
  aTogether: LoadResult;
  bTogether: LoadResult;
  models: unknown;
}

/** Both models in one process: W2 on each alone, then on both at once, each through its own prefix. */
async function pairPhase(second: string): Promise<PairRun> {
  const server = await startServer({
    model: `a=${MODEL}`,
    intraOpThreads: 0,
    extraArgs: ['--model', `b=${second}`, '--device', PAIR_DEVICE, ...SERVER_FLAGS],
  });
  try {
    const models = ((await (await fetch(`${server.httpUrl}/v1/models`)).json()) as { data: unknown[] }).data;
    const half = Math.max(1, Math.round(W2_CLIENTS / 2));
    const aAlone = await load(server.httpUrl, '/models/a/embed', W2, half);
    const bAlone = await load(server.httpUrl, '/models/b/embed', W2, half);
    const [aTogether, bTogether] = await Promise.all([load(server.httpUrl, '/models/a/embed', W2, half), load(server.httpUrl, '/models/b/embed', W2, half)]);
    return { aAlone, bAlone, aTogether, bTogether, models };
  } finally {
    await server.stop();
  }
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);

/** "NVIDIA H100 80GB HBM3, " on a GPU machine, else nothing. */
function gpuName(): string {
  const name = (spawnSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' }).stdout ?? '').trim();
  return name ? `${name.split('\n')[0]}, ` : '';
}
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

function markdown(report: { date: string; commit: string; machine: string; runs: DeviceRun[]; pair: PairRun | null }): string {
  const base = report.runs[0];
  const lines = [
    `# One process, several device groups${report.pair ? ' and two models' : ''}`,
    '',
    `${report.date}, commit ${report.commit}, ${report.machine}. Model ${MODEL}; server flags: ${SERVER_FLAGS.join(' ') || '(none)'}; ${DURATION_S} s windows after ${WARMUP_S} s warm-up.`,
    '',
    `W1: 32 texts of ~128 tokens per request, ${W1_CLIENTS} clients. W2: one text per request, ${W2_CLIENTS} clients. Ratios against --device ${base.device}.`,
    '',
    row(['--device', 'W1 texts/s', 'W1 p99 ms', 'W1 ratio', 'W2 texts/s', 'W2 p99 ms', 'W2 ratio', 'errors']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...report.runs.map((r) =>
      row([
        r.device,
        fmt(r.w1.textsPerS),
        fmt(r.w1.latencyMs.p99, 1),
        fmt(r.w1.textsPerS / base.w1.textsPerS, 2),
        fmt(r.w2.textsPerS),
        fmt(r.w2.latencyMs.p99, 1),
        fmt(r.w2.textsPerS / base.w2.textsPerS, 2),
        r.w1.errors + r.w2.errors,
      ]),
    ),
  ];
  if (report.pair) {
    const p = report.pair;
    lines.push(
      '',
      `## Two models in one process (--device ${PAIR_DEVICE}): a = ${MODEL}, b = ${SECOND}`,
      '',
      `W2 with ${Math.round(W2_CLIENTS / 2)} clients per model, each model alone and then both at once.`,
      '',
      row(['model', 'alone texts/s', 'together texts/s', 'together / alone', 'alone p99 ms', 'together p99 ms']),
      row(['---', '---:', '---:', '---:', '---:', '---:']),
      row([
        'a',
        fmt(p.aAlone.textsPerS),
        fmt(p.aTogether.textsPerS),
        fmt(p.aTogether.textsPerS / p.aAlone.textsPerS, 2),
        fmt(p.aAlone.latencyMs.p99, 1),
        fmt(p.aTogether.latencyMs.p99, 1),
      ]),
      row([
        'b',
        fmt(p.bAlone.textsPerS),
        fmt(p.bTogether.textsPerS),
        fmt(p.bTogether.textsPerS / p.bAlone.textsPerS, 2),
        fmt(p.bAlone.latencyMs.p99, 1),
        fmt(p.bTogether.latencyMs.p99, 1),
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const runs: DeviceRun[] = [];
  for (const device of DEVICES) {
    const run = await devicePhase(device);
    console.log(`--device ${device}: W1 ${fmt(run.w1.textsPerS)} texts/s, W2 ${fmt(run.w2.textsPerS)} texts/s`);
    runs.push(run);
  }
  const pair = SECOND ? await pairPhase(SECOND) : null;
  const report = {
    date: new Date().toISOString(),
    // The GPU machine gets the tree without .git: the commit can be passed in.
    commit: flagValue('commit') ?? ((spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout ?? '').trim() || 'unknown'),
    machine: `${gpuName()}${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    runs,
    pair,
  };
  const md = markdown(report);
  console.log(md);
  const dir = join('bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${OUT}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, `${OUT}.md`), md);
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
