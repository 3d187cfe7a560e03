/**
 * CPU int8 against float32, side by side in one run: the MiniLM-L6-shaped random BERT
 * (bench/models/mid-bert.ts, built here) served twice by the real server, as it is and with
 * --quantize dynamic-int8, each in its own child process, both loaded for the whole run. 64
 * closed-loop HTTP clients send the bench workload (bench/texts.ts); phases alternate
 * fp32, int8, int8, fp32, ... so other load on the shared cores hits both alike, and each round's
 * int8 / fp32 ratio compares neighbouring phases. Fidelity: cosine of the int8 server's vectors to
 * the fp32 server's on the tiny-bert fixture's reference sentences and on workload texts.
 *
 * usage: npm run build && node dist/bench/cpu-int8.js [--rounds 4] [--duration 4] [--warmup 1]
 *        [--concurrency 64] [--threads 0] [--out bench/results]   -> cpu-int8.{json,md}
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flagValue } from './args.js';
import { cosine } from './cosine.js';
import { withCpu, type CpuShares } from './cpu-usage.js';
import { httpDriver } from './drivers/http-driver.js';
import { runLoad, type LoadResult } from './load.js';
import { ensureMidBert } from './models/mid-bert.js';
import { phaseStats, scrape } from './server-stats.js';
import { startServer, type ServerProcess } from './server-process.js';
import { modelWorkload, type ModelWorkload } from './workload.js';
import { readManifest } from '../src/model-prep/manifest.js';
import { quantizeManifest } from '../src/model-prep/quantized-graph.js';
import { OrtBackend } from '../src/backend/ort/ort-backend.js';
import { profileOps, type OpProfile } from './ort-op-profile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const log = (m: string) => process.stderr.write(`[cpu-int8] ${m}\n`);

const rounds = Number(flagValue('rounds', '4'));
const durationS = Number(flagValue('duration', '4'));
const warmupS = Number(flagValue('warmup', '1'));
const concurrency = Number(flagValue('concurrency', '64'));
const threads = Number(flagValue('threads', '0'));
const out = resolve(flagValue('out', join(ROOT, 'bench', 'results')));
const SEED = 20240611;
const FIDELITY_TEXTS = 256;

type Variant = 'fp32' | 'int8';
const VARIANTS: Record<Variant, string[]> = { fp32: [], int8: ['--quantize', 'dynamic-int8'] };

interface Phase {
  variant: Variant;
  round: number;
  textsPerS: number;
  tokensPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  meanBatch: number;
  /** Texts per CPU-second of the server process: what a phase got done with the cores it was given. */
  textsPerServerCoreS: number;
  cpu: CpuShares;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function embed(url: string, texts: string[]): Promise<number[][]> {
  const vectors: number[][] = [];
  for (let i = 0; i < texts.length; i += 32) {
    const res = await fetch(`${url}/embed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: texts.slice(i, i + 32), truncate: true }),
    });
    if (res.status !== 200) throw new Error(`/embed answered ${res.status}: ${await res.text()}`);
    vectors.push(...((await res.json()) as number[][]));
  }
  return vectors;
}

function summary(xs: number[]): { min: number; mean: number } {
  return { min: Math.min(...xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const dir = ensureMidBert();
  log(`model: ${dir}`);
  const workload = modelWorkload(dir, { seed: SEED, requests: 4000 });
  // A fresh prepared-graph cache: the int8 server's start includes quantizing, as a first start does.
  const cache = mkdtempSync(join(tmpdir(), 'coalesce-int8-bench-'));
  process.env.COALESCE_GRAPH_CACHE = cache;
  const servers = {} as Record<Variant, ServerProcess>;
  const startMs = {} as Record<Variant, number>;
  const closers: (() => unknown)[] = [() => rmSync(cache, { recursive: true, force: true })];
  try {
    for (const v of ['fp32', 'int8'] as Variant[]) {
      const t = performance.now();
      servers[v] = await startServer({ model: dir, intraOpThreads: threads, extraArgs: VARIANTS[v] });
      startMs[v] = performance.now() - t;
      closers.unshift(() => servers[v].stop());
      log(`${v} server healthy in ${(startMs[v] / 1000).toFixed(1)} s`);
    }
    const drivers = { fp32: await httpDriver(servers.fp32.httpUrl), int8: await httpDriver(servers.int8.httpUrl) };
    closers.unshift(
      () => drivers.fp32.close(),
      () => drivers.int8.close(),
    );
    const info = (await (await fetch(`${servers.int8.httpUrl}/info`)).json()) as { model_dtype: string; onnx_file: string };
    if (info.model_dtype !== 'int8') throw new Error(`the int8 server reports model_dtype ${info.model_dtype}`);

    // Fidelity first (the servers are idle): same texts, both servers.
    const reference = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'tiny-bert', 'reference.json'), 'utf8')) as { sentences: string[] };
    const texts = workload.requests.flat().slice(0, FIDELITY_TEXTS);
    const fidelity = {} as Record<'fixture' | 'workload', { texts: number; min: number; mean: number }>;
    for (const [name, set] of [
      ['fixture', reference.sentences],
      ['workload', texts],
    ] as const) {
      const [a, b] = [await embed(servers.fp32.httpUrl, set), await embed(servers.int8.httpUrl, set)];
      fidelity[name] = { texts: set.length, ...summary(a.map((v, i) => cosine(v, b[i]))) };
      log(`cosine int8 vs fp32, ${name} texts (${set.length}): min ${fidelity[name].min.toFixed(5)}, mean ${fidelity[name].mean.toFixed(5)}`);
    }

    // JIT and allocator warm-up of both, not recorded.
    for (const v of ['fp32', 'int8'] as Variant[]) await runLoad(drivers[v], workload, { concurrency, warmupS: 0, durationS: 1.5 });

    const phases: Phase[] = [];
    for (let round = 1; round <= rounds; round++) {
      // fp32, int8 | int8, fp32 | ...: neither always runs first after a pause.
      const order: Variant[] = round % 2 ? ['fp32', 'int8'] : ['int8', 'fp32'];
      for (const v of order) {
        const before = await scrape(servers[v].httpUrl);
        const { result, cpu } = await withCpu({ server: servers[v].child.pid!, client: process.pid }, () =>
          runLoad(drivers[v], workload, { concurrency, warmupS, durationS }),
        );
        const stats = phaseStats(before, await scrape(servers[v].httpUrl));
        const phase = toPhase(v, round, result, cpu, stats.meanBatchSize);
        phases.push(phase);
        log(
          `round ${round} ${v}: ${phase.textsPerS.toFixed(0)} texts/s, ${phase.tokensPerS.toFixed(0)} tokens/s, p50 ${phase.p50Ms.toFixed(0)} ms, ` +
            `p99 ${phase.p99Ms.toFixed(0)} ms, batch ${phase.meanBatch.toFixed(1)}, cores: server ${cpu.cores.server.toFixed(2)} client ${cpu.cores.client.toFixed(2)} others ${cpu.othersCores.toFixed(2)}`,
        );
      }
    }

    const model = await modelCalls(dir, workload, 15);
    const profileBatch = workload.encoded.slice(0, 16);
    const profile = {
      fp32: await profileOps(join(dir, 'model.onnx'), profileBatch, 20, threads),
      int8: await profileOps(quantizeManifest(readManifest(dir)).manifest.onnxPath, profileBatch, 20, threads),
    };
    for (const v of ['fp32', 'int8'] as Variant[]) {
      log(
        `profile ${v}: ${profile[v].kernelMsPerRun.toFixed(1)} ms of kernels per run; ${profile[v].ops
          .slice(0, 6)
          .map((o) => `${o.op} ${(o.share * 100).toFixed(0)}%`)
          .join(', ')}`,
      );
    }

    const of = (v: Variant) => phases.filter((p) => p.variant === v);
    const roundRatios = Array.from({ length: rounds }, (_, i) => {
      const [a, b] = [of('fp32')[i], of('int8')[i]];
      return b.textsPerS / a.textsPerS;
    });
    const best = (v: Variant) => of(v).reduce((x, y) => (y.textsPerS > x.textsPerS ? y : x));
    const report = {
      what: 'CPU int8 (--quantize dynamic-int8) vs float32, MiniLM-L6-shaped random BERT, served over HTTP',
      date: new Date().toISOString(),
      commit: git(['rev-parse', '--short', 'HEAD']),
      dirty: git(['status', '--porcelain']) !== '',
      machine: { cpu: cpus()[0]?.model ?? '?', cores: cpus().length, loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))) },
      node: process.version,
      model: { shape: 'layers 6, hidden 384, heads 12, FFN 1536, vocab 30522 (bench/models/mid-bert.ts, seed 7)', served: info.onnx_file },
      load: { clients: concurrency, rounds, durationS, warmupS, intraOpThreads: threads, order: 'fp32,int8 then int8,fp32, alternating' },
      startS: { fp32: startMs.fp32 / 1000, int8IncludingQuantization: startMs.int8 / 1000 },
      fidelity,
      ratio: {
        medianOfRounds: median(roundRatios),
        bestVsBest: best('int8').textsPerS / best('fp32').textsPerS,
        rounds: roundRatios,
        perServerCpuSecond: median(of('int8').map((p) => p.textsPerServerCoreS)) / median(of('fp32').map((p) => p.textsPerServerCoreS)),
      },
      best: { fp32: best('fp32'), int8: best('int8') },
      modelCalls: model,
      profile: { batch: `${profileBatch.length} texts, padded to ${Math.max(...profileBatch.map((t) => t.ids.length))} tokens`, ...profile },
      phases,
    };
    const md = markdown(report);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'cpu-int8.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(out, 'cpu-int8.md'), `${md}\n`);
    process.stdout.write(`${md}\n`);
  } finally {
    for (const close of closers) await close();
  }
}

interface ModelCalls {
  batch: string;
  tokens: number;
  fp32Ms: number;
  int8Ms: number;
  /** Median over pairs of back-to-back calls of fp32 ms / int8 ms. */
  ratio: number;
}

/**
 * The model alone, no HTTP: the same batches of workload texts through a float32 and an int8
 * session of this process, one call each in turn, so the ratio of each pair shares its moment's load.
 */
async function modelCalls(dir: string, workload: ModelWorkload, pairs: number): Promise<ModelCalls[]> {
  const manifest = readManifest(dir);
  const fp32 = await OrtBackend.start('fp32', manifest, { device: 'cpu', intraOpThreads: threads });
  const int8 = await OrtBackend.start('int8', quantizeManifest(manifest).manifest, { device: 'cpu', intraOpThreads: threads });
  const rows: ModelCalls[] = [];
  try {
    for (const size of [32, 8, 1]) {
      const inputs = workload.encoded.slice(0, size);
      const time = async (b: OrtBackend) => {
        const t = performance.now();
        await b.embed({ inputs });
        return performance.now() - t;
      };
      for (let i = 0; i < 2; i++) {
        await time(fp32);
        await time(int8);
      }
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < pairs; i++) {
        a.push(await time(fp32));
        b.push(await time(int8));
      }
      const row = {
        batch: `${size} text${size > 1 ? 's' : ''}`,
        tokens: inputs.reduce((n, x) => n + x.ids.length, 0),
        fp32Ms: median(a),
        int8Ms: median(b),
        ratio: median(a.map((x, i) => x / b[i])),
      };
      rows.push(row);
      log(
        `model calls, ${row.batch} (${row.tokens} tokens): fp32 ${row.fp32Ms.toFixed(1)} ms, int8 ${row.int8Ms.toFixed(1)} ms, ratio ${row.ratio.toFixed(2)}`,
      );
    }
  } finally {
    await Promise.all([fp32.close(), int8.close()]);
  }
  return rows;
}

function toPhase(variant: Variant, round: number, r: LoadResult, cpu: CpuShares, meanBatch: number): Phase {
  return {
    variant,
    round,
    textsPerS: r.textsPerS,
    tokensPerS: r.tokensPerS,
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    errors: r.errors,
    meanBatch,
    textsPerServerCoreS: r.textsPerS / cpu.cores.server,
    cpu,
  };
}

function markdown(r: {
  date: string;
  commit: string;
  dirty: boolean;
  machine: { cpu: string; cores: number; loadAverageAtEnd: number[] };
  load: { clients: number; rounds: number; durationS: number; warmupS: number };
  startS: { fp32: number; int8IncludingQuantization: number };
  fidelity: Record<string, { texts: number; min: number; mean: number }>;
  ratio: { medianOfRounds: number; bestVsBest: number; rounds: number[]; perServerCpuSecond: number };
  best: Record<Variant, Phase>;
  modelCalls: ModelCalls[];
  profile: { batch: string; fp32: OpProfile; int8: OpProfile };
  phases: Phase[];
}): string {
  const ops = (p: OpProfile) =>
    p.ops
      .slice(0, 7)
      .map((o) => `${o.op} ${(o.share * 100).toFixed(0)}%`)
      .join(', ');
  const f = (n: number, d = 0) => n.toFixed(d);
  const row = (name: string, p: Phase) =>
    `| ${name} | ${f(p.textsPerS)} | ${f(p.tokensPerS)} | ${f(p.p50Ms)} | ${f(p.p99Ms)} | ${f(p.meanBatch, 1)} | ${f(p.cpu.othersCores, 2)} |`;
  return [
    '# CPU int8 vs float32 (MiniLM-L6 shape, random weights)',
    '',
    `${r.date}, commit ${r.commit}${r.dirty ? ' (with uncommitted changes)' : ''}, ${r.machine.cpu} (${r.machine.cores} cores, shared with other work; load average at the end ${r.machine.loadAverageAtEnd.join(' ')}).`,
    `Two servers of the same build, one process each, both loaded for the whole run: float32 as exported, and \`--quantize dynamic-int8\`.`,
    `${r.load.clients} closed-loop HTTP clients, bench workload texts (70% single-text requests, the rest 2-8 texts); ${r.load.rounds} rounds of ${r.load.durationS} s`,
    `(after ${r.load.warmupS} s warm-up), fp32 and int8 phases alternating (fp32, int8, then int8, fp32, ...), so load from other people on the shared cores falls on both.`,
    '',
    '## Throughput and latency (best round of each)',
    '',
    '| server | texts/s | tokens/s | p50 ms | p99 ms | mean batch | other load (cores) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    row('float32', r.best.fp32),
    row('int8 (dynamic)', r.best.int8),
    '',
    `**int8 / float32 throughput: ${f(r.ratio.medianOfRounds, 2)}x** (median of the ${r.load.rounds} rounds' neighbouring-phase ratios: ${r.ratio.rounds.map((x) => f(x, 2)).join(', ')}; best round vs best round ${f(r.ratio.bestVsBest, 2)}x).`,
    `Per CPU-second the server process got (texts/s divided by the cores it used, which other load squeezes): int8 / float32 ${f(r.ratio.perServerCpuSecond, 2)}x (medians).`,
    '',
    '## Fidelity: cosine of int8 vectors to float32 vectors (same texts, normalized)',
    '',
    '| texts | count | min | mean |',
    '| --- | --- | --- | --- |',
    `| tiny-bert fixture sentences (reference.json) | ${r.fidelity.fixture.texts} | ${f(r.fidelity.fixture.min, 5)} | ${f(r.fidelity.fixture.mean, 5)} |`,
    `| workload texts | ${r.fidelity.workload.texts} | ${f(r.fidelity.workload.min, 5)} | ${f(r.fidelity.workload.mean, 5)} |`,
    '',
    '## The model alone (no HTTP, no tokenizing)',
    '',
    'Same batches of workload texts through a float32 and an int8 session of one process, calls alternating; medians of 15.',
    '',
    '| batch | tokens | float32 ms | int8 ms | float32 / int8 (median of pairs) |',
    '| --- | --- | --- | --- | --- |',
    ...r.modelCalls.map((m) => `| ${m.batch} | ${m.tokens} | ${f(m.fp32Ms, 1)} | ${f(m.int8Ms, 1)} | ${f(m.ratio, 2)}x |`),
    '',
    `Where the time goes (ONNX Runtime's profiler, ${r.profile.batch}, kernel time per run):`,
    '',
    `- float32: ${f(r.profile.fp32.kernelMsPerRun, 1)} ms; ${ops(r.profile.fp32)}`,
    `- int8: ${f(r.profile.int8.kernelMsPerRun, 1)} ms; ${ops(r.profile.int8)}`,
    '',
    `Start to /health 200: float32 ${f(r.startS.fp32, 1)} s, int8 ${f(r.startS.int8IncludingQuantization, 1)} s including quantizing the graph (a later start reads it from the prepared-graph cache).`,
    '',
    '## Every phase',
    '',
    '| round | server | texts/s | tokens/s | p50 ms | p99 ms | mean batch | server cores | texts per server CPU-s | client cores | other load (cores) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.phases.map(
      (p) =>
        `| ${p.round} | ${p.variant} | ${f(p.textsPerS)} | ${f(p.tokensPerS)} | ${f(p.p50Ms)} | ${f(p.p99Ms)} | ${f(p.meanBatch, 1)} | ${f(p.cpu.cores.server, 2)} | ${f(p.textsPerServerCoreS)} | ${f(p.cpu.cores.client, 2)} | ${f(p.cpu.othersCores, 2)} |`,
    ),
    '',
    "The weights are random, so the vectors mean nothing; the compute per token is a MiniLM-L6's. Real models differ in how their",
    'activations spread; measure fidelity on your own model and texts before relying on int8.',
  ].join('\n');
}

void main().catch((e) => {
  process.stderr.write(`cpu-int8 failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
