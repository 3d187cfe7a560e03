/**
 * One process, several device groups and several models:
 * - data parallel: W1 (32 texts of ~128 tokens per request, 64 clients) and W2 (one text per
 *   request, 256 clients) against the same model on each --device spec given (e.g. `cuda:0` then
 *   `cuda:0,cuda:1`), throughput relative to the first spec;
 * - two models in one process: each alone, then both under their own load at the same time
 *   (through /models/<name>/embed), with each one's throughput relative to its alone figure;
 *   first as saturating closed loops (W2), then paced: each model offered --paced-share of its
 *   alone closed-loop texts/s as Poisson arrivals (open-loop-generator.ts processes), alone and
 *   both at once, so the together/alone ratio is measured where the device is not saturated;
 * - for every two-model phase, where the model time went: each model's session busy share,
 *   batch size and call time from /metrics (its `model` label), and on a GPU nvidia-smi's
 *   utilization.
 *
 *   node dist/bench/multi-device.js [--model test/fixtures/tiny-bert] [--devices "cpu;cpu,cpu"]
 *     [--second-model test/fixtures/tiny-siglip] [--pair-device cpu] [--duration 10] [--warmup 3]
 *     [--w1-clients 64] [--w2-clients 256] [--paced-share 0.4 (a list: 0.3,0.45; 0: none)]
 *     [--rate-per-generator 4000] [--server-flags "..."] [--out multi-device-cpu] [--note "..."]
 *
 * Writes bench/results/<out>.{json,md}. On a GPU machine: --devices "cuda:0;cuda:0,cuda:1" (or
 * "cuda:0;cuda:0,cuda:0" on one GPU, as two device groups), --pair-device cuda:0, and the CUDA
 * provider installed (scripts/install-cuda-provider.sh).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { flagValue } from './args.js';
import { httpDriver } from './drivers/http-driver.js';
import { runLoad, type LoadResult, type LoadWorkload } from './load.js';
import { hrtimeWindowToMs, startTimeline, type PhaseTime } from './model-time.js';
import { pacedLoad } from './paced-load.js';
import { pairMarkdown, type PacedRun, type PairRun } from './pair-report.js';
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
const PACED_SHARES = (flagValue('paced-share', '0.4') ?? '')
  .split(',')
  .map(Number)
  .filter((x) => x > 0);
const RATE_PER_GENERATOR = Number(flagValue('rate-per-generator', '4000'));
const NOTE = flagValue('note', null);
/** The together / alone throughput each model should keep where the device is not saturated (issue 22). */
const TARGET = 0.8;

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

/** The W2 texts as open-loop request bodies (one text each), in a file for the generator processes. */
function w2BodiesFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'coalesce-multi-device-')), 'bodies.json');
  writeFileSync(file, JSON.stringify(W2.requests.map((texts) => JSON.stringify({ inputs: texts[0], truncate: true }))));
  return file;
}

/** nvidia-smi's index of `cuda:N`, or null on the CPU. */
function gpuIndex(device: string): number | null {
  const m = /^cuda(?::(\d+))?/.exec(device);
  return m ? Number(m[1] ?? 0) : null;
}

type Phase = (window: [number, number]) => PhaseTime | null;

/** Each model offered `share` of its alone closed-loop figure: alone, then both at once with the same arrivals. */
async function pacedPhase(url: string, share: number, alone: { a: number; b: number }, phase: Phase, bodiesFile: string): Promise<PacedRun> {
  const options = { bodiesFile, warmupS: WARMUP_S, durationS: DURATION_S, ratePerGenerator: RATE_PER_GENERATOR };
  const a = { model: 'a', rate: share * alone.a, seed: 4001 };
  const b = { model: 'b', rate: share * alone.b, seed: 5003 };
  const aAlone = await pacedLoad(url, [a], options);
  await sleep(1000);
  const bAlone = await pacedLoad(url, [b], options);
  await sleep(1000);
  const together = await pacedLoad(url, [a, b], options);
  await sleep(1000);
  return {
    share,
    aAlone: aAlone.results[0],
    bAlone: bAlone.results[0],
    aTogether: together.results[0],
    bTogether: together.results[1],
    time: { aAlone: phase(aAlone.window), bAlone: phase(bAlone.window), together: phase(together.window) },
  };
}

/** Both models in one process: W2 on each alone, then on both at once, each through its own prefix; then paced. */
async function pairPhase(second: string): Promise<PairRun> {
  const server = await startServer({
    model: `a=${MODEL}`,
    intraOpThreads: 0,
    extraArgs: ['--model', `b=${second}`, '--device', PAIR_DEVICE, ...SERVER_FLAGS],
  });
  const timeline = startTimeline(server.httpUrl, gpuIndex(PAIR_DEVICE));
  try {
    const models = ((await (await fetch(`${server.httpUrl}/v1/models`)).json()) as { data: { id: string; sessions?: number }[] }).data;
    const sessions = models.map((m) => ({ name: m.id, sessions: m.sessions ?? 1 }));
    const phase: Phase = (window) => timeline.phase(window, sessions);
    const half = Math.max(1, Math.round(W2_CLIENTS / 2));
    const aAlone = await load(server.httpUrl, '/models/a/embed', W2, half);
    const bAlone = await load(server.httpUrl, '/models/b/embed', W2, half);
    const [aTogether, bTogether] = await Promise.all([load(server.httpUrl, '/models/a/embed', W2, half), load(server.httpUrl, '/models/b/embed', W2, half)]);
    // Together: where both loops' windows overlap, so both loads ran all through it.
    const [a0, a1] = hrtimeWindowToMs(aTogether.windowUs);
    const [b0, b1] = hrtimeWindowToMs(bTogether.windowUs);
    const time = {
      aAlone: phase(hrtimeWindowToMs(aAlone.windowUs)),
      bAlone: phase(hrtimeWindowToMs(bAlone.windowUs)),
      together: phase([Math.max(a0, b0), Math.min(a1, b1)]),
    };
    console.log(
      `two models, closed loops: a ${fmt(aAlone.textsPerS)} -> ${fmt(aTogether.textsPerS)} texts/s, b ${fmt(bAlone.textsPerS)} -> ${fmt(bTogether.textsPerS)}`,
    );
    const paced: PacedRun[] = [];
    const bodiesFile = PACED_SHARES.length ? w2BodiesFile() : '';
    for (const share of PACED_SHARES) {
      await sleep(1000);
      const r = await pacedPhase(server.httpUrl, share, { a: aAlone.textsPerS, b: bAlone.textsPerS }, phase, bodiesFile);
      console.log(
        `paced at ${share} of alone: a ${fmt(r.aAlone.achievedRate)} -> ${fmt(r.aTogether.achievedRate)} texts/s, b ${fmt(r.bAlone.achievedRate)} -> ${fmt(r.bTogether.achievedRate)}`,
      );
      paced.push(r);
    }
    return { aAlone, bAlone, aTogether, bTogether, models, time, paced };
  } finally {
    await timeline.stop();
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

function markdown(report: { date: string; commit: string; machine: string; note: string | null; runs: DeviceRun[]; pair: PairRun | null }): string {
  const base = report.runs[0];
  const lines = [
    `# One process, several device groups${report.pair ? ' and two models' : ''}`,
    '',
    `${report.date}, commit ${report.commit}, ${report.machine}. Model ${MODEL}; server flags: ${SERVER_FLAGS.join(' ') || '(none)'}; ${DURATION_S} s windows after ${WARMUP_S} s warm-up.${report.note ? ` ${report.note}` : ''}`,
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
  if (report.pair)
    lines.push(
      ...pairMarkdown(report.pair, {
        a: MODEL,
        b: SECOND ?? '',
        device: PAIR_DEVICE,
        clientsPerModel: Math.round(W2_CLIENTS / 2),
        durationS: DURATION_S,
        warmupS: WARMUP_S,
        target: TARGET,
      }),
    );
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
    note: NOTE,
    pacedShares: PACED_SHARES,
    ratePerGenerator: RATE_PER_GENERATOR,
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
