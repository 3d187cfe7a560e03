/**
 * `npm run bench`: the CPU benchmark. For each model it serves the workload through the real
 * server (one child process; HTTP, and gRPC when this build has it) at each concurrency, then
 * measures two anchors on the same model files and texts: the bare ORT session on pre-formed
 * batches (the ceiling) and a transformers.js pipeline called per request (the alternative).
 * Prints a markdown table and writes bench/results/cpu-bench.{json,md}.
 *
 *   --model tiny,default,mid   names (tiny: test/fixtures/tiny-bert, default: models/default,
 *                              mid: a MiniLM-L6-shaped random BERT built on first use) or folders
 *   --concurrency 1,16,64      --duration 3  --warmup 1  --threads 0 (ORT intra-op, 0 = ORT default)
 *   --quick                    tiny model only, short phases (~30 s)
 *   --profile                  one more server run at the top concurrency under --cpu-prof
 *   --no-grpc --no-tjs --no-ceiling   skip parts;  --server-arg "<flag> <value>" passes server flags
 *   --seed N --requests N --out DIR
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawArgs, RawResult } from './anchors/raw-session.js';
import type { TjsArgs, TjsResult } from './anchors/transformers-js.js';
import { runAnchor } from './anchors/child.js';
import { measureCosts } from './costs.js';
import { httpDriver } from './drivers/http-driver.js';
import type { Driver } from './drivers/types.js';
import { runLoad } from './load.js';
import { ensureMidBert } from './models/mid-bert.js';
import { summarizeProfiles, type ProfileSummary } from './profile.js';
import { computeTargets, reportMarkdown, type BenchReport, type MainThreadCosts, type ModelReport, type ServedRun, type Skippable } from './report.js';
import { phaseStats, scrape } from './server-stats.js';
import { grpcPortFlag, serverFlags, startServer } from './server-process.js';
import { modelWorkload } from './workload.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Options {
  models: string[];
  concurrency: number[];
  durationS: number;
  warmupS: number;
  threads: number;
  seed: number;
  requests: number;
  grpc: boolean;
  tjs: boolean;
  ceiling: boolean;
  profile: boolean;
  ceilingBatches: number[];
  serverArgs: string[];
  out: string;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    models: quick ? ['tiny'] : ['tiny', 'default', 'mid'],
    concurrency: [1, 16, 64],
    durationS: quick ? 1.5 : 3,
    warmupS: quick ? 0.5 : 1,
    threads: 0,
    seed: 20240611,
    requests: 4000,
    grpc: true,
    tjs: true,
    ceiling: true,
    profile: false,
    ceilingBatches: [32, 64],
    serverArgs: [],
    out: join(ROOT, 'bench', 'results'),
  };
  const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
  const num = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: '${v}' is not a non-negative number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick': break;
      case '--model': o.models = list(value()); break;
      case '--concurrency': o.concurrency = list(value()).map((v) => num(flag, v)).filter((n) => n >= 1); break;
      case '--duration': o.durationS = num(flag, value()); break;
      case '--warmup': o.warmupS = num(flag, value()); break;
      case '--threads': o.threads = num(flag, value()); break;
      case '--seed': o.seed = num(flag, value()); break;
      case '--requests': o.requests = Math.max(1, num(flag, value())); break;
      case '--ceiling-batches': o.ceilingBatches = list(value()).map((v) => num(flag, v)); break;
      case '--server-arg': o.serverArgs.push(...value().split(/\s+/).filter(Boolean)); break;
      case '--out': o.out = resolve(value()); break;
      case '--no-grpc': o.grpc = false; break;
      case '--no-tjs': o.tjs = false; break;
      case '--no-ceiling': o.ceiling = false; break;
      case '--profile': o.profile = true; break;
      default: throw new Error(`unknown option '${flag}' (see the header of bench/cpu-bench.ts)`);
    }
  }
  if (o.concurrency.length === 0) throw new Error('--concurrency: give at least one level ≥ 1');
  return o;
}

function modelDir(name: string): string {
  if (name === 'tiny') return join(ROOT, 'test', 'fixtures', 'tiny-bert');
  if (name === 'default') return join(ROOT, 'models', 'default');
  if (name === 'mid') return ensureMidBert();
  return resolve(name);
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

async function grpcDriverFactory(): Promise<((target: string) => Promise<Driver>) | string> {
  const path = fileURLToPath(new URL('./drivers/grpc-driver.js', import.meta.url));
  if (!existsSync(path)) return 'bench/drivers/grpc-driver.ts is not there yet';
  const mod = (await import(path)) as { grpcDriver?: (target: string) => Promise<Driver> };
  if (typeof mod.grpcDriver !== 'function') return 'bench/drivers/grpc-driver.ts exports no grpcDriver';
  return mod.grpcDriver;
}

/** Runs every concurrency level through one driver against a running server. */
async function servedRuns(driver: Driver, httpUrl: string, workload: Parameters<typeof runLoad>[1], o: Options, costs: MainThreadCosts, label: string): Promise<ServedRun[]> {
  const runs: ServedRun[] = [];
  for (const concurrency of o.concurrency) {
    const before = await scrape(httpUrl);
    const result = await runLoad(driver, workload, { concurrency, warmupS: o.warmupS, durationS: o.durationS });
    const after = await scrape(httpUrl);
    const server = phaseStats(before, after);
    const estimatedMainThread = {
      tokenize: (result.textsPerS * costs.tokenizeUsPerText) / 1e6,
      jsonEncode: label === 'http' ? (result.textsPerS * costs.jsonEncodeUsPerText) / 1e6 : 0,
      jsonParse: label === 'http' ? (result.requestsPerS * costs.jsonParseUsPerRequest) / 1e6 : 0,
    };
    runs.push({ ...result, server, estimatedMainThread });
    log(`  ${label} c=${concurrency}: ${result.textsPerS.toFixed(0)} texts/s, p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms, ` +
      `batch ${server.meanBatchSize.toFixed(1)}, model busy ${(server.modelBusy * 100).toFixed(0)}%, lag p99 ${server.eventLoopLagP99Ms?.toFixed(1) ?? '?'} ms` +
      (result.errors ? `, ${result.errors} errors: ${result.firstError}` : ''));
  }
  return runs;
}

async function benchModel(name: string, o: Options, flags: string[]): Promise<ModelReport> {
  const dir = modelDir(name);
  log(`model ${name}: ${dir}`);
  const workload = modelWorkload(dir, { seed: o.seed, requests: o.requests });
  const meanTokensPerText = workload.tokens.reduce((a, b) => a + b, 0) / workload.encoded.length;
  const eventLoopArgs = flags.includes('--event-loop-metrics') ? ['--event-loop-metrics'] : [];
  const serverArgs = [...eventLoopArgs, ...o.serverArgs];

  // Served: HTTP, then gRPC against the same server process.
  let dimensions: number | null = null;
  let http: Skippable<ServedRun[]> = { skipped: 'not run' };
  let grpc: Skippable<ServedRun[]> = { skipped: 'disabled (--no-grpc)' };
  let costs: MainThreadCosts | null = null;
  const server = await startServer({ model: dir, intraOpThreads: o.threads, extraArgs: serverArgs, grpc: o.grpc });
  try {
    const info = (await (await fetch(`${server.httpUrl}/info`)).json()) as { dimensions?: number };
    dimensions = info.dimensions ?? null;
    costs = measureCosts(workload, dimensions ?? 384);
    const driver = await httpDriver(server.httpUrl);
    try {
      http = await servedRuns(driver, server.httpUrl, workload, o, costs, 'http');
    } finally {
      driver.close();
    }
    if (o.grpc) {
      const factory = await grpcDriverFactory();
      if (typeof factory === 'string') grpc = { skipped: factory };
      else if (!server.grpcTarget) grpc = { skipped: 'the server has no gRPC port flag in this build' };
      else {
        const g = await factory(server.grpcTarget);
        try {
          grpc = await servedRuns(g, server.httpUrl, workload, o, costs, 'grpc');
        } catch (e) {
          grpc = { skipped: `failed: ${(e as Error).message}` };
        } finally {
          g.close();
        }
      }
    }
  } finally {
    await server.stop();
  }

  let profile: Skippable<ProfileSummary> | null = null;
  if (o.profile) profile = await profileRun(dir, o, serverArgs, workload);

  let ceiling: Skippable<RawResult> = { skipped: 'disabled (--no-ceiling)' };
  if (o.ceiling) {
    log('  raw ORT session (ceiling)');
    const args: RawArgs = { model: dir, seed: o.seed, requests: o.requests, intraOpThreads: o.threads, batchSizes: o.ceilingBatches,
      maxBatchTokens: 16384, warmupS: o.warmupS, durationS: o.durationS };
    ceiling = await runAnchor<RawArgs, RawResult>('raw-session', args).catch((e: Error) => ({ skipped: e.message.split('\n')[0] }));
    if (!('skipped' in ceiling)) for (const r of ceiling.results) log(`  raw b=${r.batchSize}: ${r.textsPerS.toFixed(0)} texts/s, ${r.msPerBatch.toFixed(1)} ms/batch`);
  }

  let transformersJs: TjsResult = { skipped: 'disabled (--no-tjs)' };
  if (o.tjs) {
    log('  transformers.js pipeline');
    const args: TjsArgs = { model: dir, seed: o.seed, requests: o.requests, intraOpThreads: o.threads, concurrency: o.concurrency,
      warmupS: o.warmupS, durationS: o.durationS };
    transformersJs = await runAnchor<TjsArgs, TjsResult>('transformers-js', args).catch((e: Error) => ({ skipped: e.message.split('\n')[0] }));
    if ('skipped' in transformersJs) log(`  transformers.js skipped: ${transformersJs.skipped}`);
    else for (const r of transformersJs.runs) log(`  tjs c=${r.concurrency}: ${r.textsPerS.toFixed(0)} texts/s, p50 ${r.latencyMs.p50.toFixed(1)} ms`);
  }

  const partial = {
    name, dir: dir.startsWith(ROOT) ? dir.slice(ROOT.length) : dir, dimensions, maxLength: workload.manifest.maxLength, meanTokensPerText,
    http, grpc, ceiling, transformersJs, costs: costs ?? { tokenizeUsPerText: NaN, jsonEncodeUsPerText: NaN, jsonParseUsPerRequest: NaN }, profile,
  };
  return { ...partial, targets: computeTargets(partial) };
}

/** One more server run at the top concurrency under --cpu-prof: where the main thread's time goes. */
async function profileRun(dir: string, o: Options, serverArgs: string[], workload: Parameters<typeof runLoad>[1]): Promise<Skippable<ProfileSummary>> {
  const concurrency = Math.max(...o.concurrency);
  const profDir = mkdtempSync(join(tmpdir(), 'coalesce-prof-'));
  log(`  profile c=${concurrency} (--cpu-prof)`);
  try {
    const server = await startServer({ model: dir, intraOpThreads: o.threads, extraArgs: serverArgs, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
    let windowUs: [number, number];
    try {
      const driver = await httpDriver(server.httpUrl);
      try {
        windowUs = (await runLoad(driver, workload, { concurrency, warmupS: o.warmupS, durationS: o.durationS })).windowUs;
      } finally {
        driver.close();
      }
    } finally {
      await server.stop(); // profiles are written on exit
    }
    return summarizeProfiles(profDir, concurrency, windowUs);
  } catch (e) {
    return { skipped: (e as Error).message.split('\n')[0] };
  } finally {
    rmSync(profDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`cpu-bench: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const flags = serverFlags();
  if (o.grpc && !grpcPortFlag(flags)) log('note: this server build has no gRPC port flag; the gRPC rows will be skipped');
  const started = performance.now();
  const report: BenchReport = {
    meta: {
      date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?',
      loadAverage: loadavg().map((l) => l.toFixed(2)).join(' '), seed: o.seed, requests: o.requests, singleShare: 0.7,
      durationS: o.durationS, warmupS: o.warmupS, intraOpThreads: o.threads, concurrency: o.concurrency, serverArgs: o.serverArgs,
    },
    models: [],
  };
  for (const name of o.models) report.models.push(await benchModel(name, o, flags));
  report.meta.totalS = Math.round((performance.now() - started) / 1000);

  const md = reportMarkdown(report);
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'cpu-bench.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(o.out, 'cpu-bench.md'), md + '\n');
  process.stdout.write(md + '\n');
  log(`done in ${report.meta.totalS} s; wrote ${join(o.out, 'cpu-bench.json')} and cpu-bench.md`);
}

void main().catch((e) => {
  process.stderr.write(`cpu-bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
