/**
 * `npm run bench`: the CPU benchmark. For each model it serves the workload through the real
 * server (one child process; HTTP, and gRPC when this build has it) at each concurrency, then
 * measures two anchors on the same model files and texts: the bare ORT session on pre-formed
 * batches (the ceiling) and a transformers.js pipeline called per request (the alternative).
 * Prints a markdown table and writes bench/results/cpu-bench.{json,md}.
 *
 *   --model tiny,default,mid   names (tiny: test/fixtures/tiny-bert, default: models/default,
 *                              mid: a MiniLM-L6-shaped random BERT built on first use) or folders
 *   --concurrency 1,16,64      --duration 1.5  --warmup 0.5  --threads 0 (ORT intra-op, 0 = ORT default)
 *   --rounds 2                 every phase runs once per round, rounds interleave all paths; the
 *                              best round is reported (other load on shared cores only subtracts)
 *   --quick                    tiny model only, short phases (~30 s)
 *   --profile                  one more server run at the top concurrency under --cpu-prof
 *   --no-grpc --no-tjs --no-ceiling   skip parts;  --server-arg "<flag> <value>" passes server flags
 *   --ceiling-batches 32,64    --ceiling-spinning off (ORT pool spinning modes the ceiling tries, e.g. off,on; the
 *                              server runs with spinning off; the best mode of a round counts)
 *   --seed N --requests N --out DIR
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AnchorProcess } from './anchors/child.js';
import type { RawBatchResult, RawInfo, RawInit, RawPhase, RawResult } from './anchors/raw-session.js';
import type { TjsInfo, TjsInit, TjsPhase, TjsResult } from './anchors/transformers-js.js';
import { measureCosts } from './costs.js';
import { withCpu } from './cpu-usage.js';
import { httpDriver } from './drivers/http-driver.js';
import type { Driver } from './drivers/types.js';
import { runLoad, type LoadResult, type LoadWorkload } from './load.js';
import { ensureMidBert } from './models/mid-bert.js';
import { summarizeProfiles, type ProfileSummary } from './profile.js';
import { computeTargets, reportMarkdown, type BenchReport, type MainThreadCosts, type ModelReport, type ServedRun, type Skippable } from './report.js';
import { LagProbe } from './lag-probe.js';
import { phaseStats, scrape } from './server-stats.js';
import { grpcPortFlag, serverFlags, startServer, type ServerProcess } from './server-process.js';
import { modelWorkload } from './workload.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Options {
  models: string[];
  concurrency: number[];
  durationS: number;
  warmupS: number;
  rounds: number;
  threads: number;
  seed: number;
  requests: number;
  grpc: boolean;
  tjs: boolean;
  ceiling: boolean;
  profile: boolean;
  ceilingBatches: number[];
  /** ORT pool spinning modes the ceiling runs with (the server runs without). */
  spinning: boolean[];
  serverArgs: string[];
  out: string;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    models: quick ? ['tiny'] : ['tiny', 'default', 'mid'],
    concurrency: [1, 16, 64],
    durationS: 1.5,
    warmupS: 0.5,
    rounds: quick ? 1 : 2,
    threads: 0,
    seed: 20240611,
    requests: 4000,
    grpc: true,
    tjs: true,
    ceiling: true,
    profile: false,
    ceilingBatches: [32, 64],
    spinning: [false],
    serverArgs: [],
    out: join(ROOT, 'bench', 'results'),
  };
  const list = (v: string) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
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
      case '--quick':
        break;
      case '--model':
        o.models = list(value());
        break;
      case '--concurrency':
        o.concurrency = list(value())
          .map((v) => num(flag, v))
          .filter((n) => n >= 1);
        break;
      case '--duration':
        o.durationS = num(flag, value());
        break;
      case '--warmup':
        o.warmupS = num(flag, value());
        break;
      case '--rounds':
        o.rounds = Math.max(1, Math.round(num(flag, value())));
        break;
      case '--threads':
        o.threads = num(flag, value());
        break;
      case '--seed':
        o.seed = num(flag, value());
        break;
      case '--requests':
        o.requests = Math.max(1, num(flag, value()));
        break;
      case '--ceiling-batches':
        o.ceilingBatches = list(value()).map((v) => num(flag, v));
        break;
      case '--ceiling-spinning':
        o.spinning = list(value()).map((v) => v === 'on');
        break;
      case '--server-arg':
        o.serverArgs.push(...value().split(/\s+/).filter(Boolean));
        break;
      case '--out':
        o.out = resolve(value());
        break;
      case '--no-grpc':
        o.grpc = false;
        break;
      case '--no-tjs':
        o.tjs = false;
        break;
      case '--no-ceiling':
        o.ceiling = false;
        break;
      case '--profile':
        o.profile = true;
        break;
      default:
        throw new Error(`unknown option '${flag}' (see the header of bench/cpu-bench.ts)`);
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

type GrpcFactory = (target: string, options?: { api?: 'tei' | 'batch' }) => Promise<Driver>;

async function grpcDriverFactory(): Promise<GrpcFactory | string> {
  const path = fileURLToPath(new URL('./drivers/grpc-driver.js', import.meta.url));
  if (!existsSync(path)) return 'bench/drivers/grpc-driver.ts is not there yet';
  const mod = (await import(path)) as { grpcDriver?: GrpcFactory };
  if (typeof mod.grpcDriver !== 'function') return 'bench/drivers/grpc-driver.ts exports no grpcDriver';
  return mod.grpcDriver;
}

/** One served phase: the load, the server's own view of it (/metrics) and the CPU it took. */
async function servedPhase(
  driver: Driver,
  proc: ServerProcess,
  workload: LoadWorkload,
  o: Options,
  costs: MainThreadCosts,
  label: 'http' | 'grpc' | 'grpc-batch',
  concurrency: number,
  probe: LagProbe,
): Promise<ServedRun> {
  await probe.reset();
  const before = await scrape(proc.httpUrl);
  const { result, cpu } = await withCpu({ server: proc.child.pid!, client: process.pid }, () =>
    runLoad(driver, workload, { concurrency, warmupS: o.warmupS, durationS: o.durationS }),
  );
  const after = await scrape(proc.httpUrl);
  const idle = await probe.read();
  const server = { ...phaseStats(before, after), idleProcessLagP99Ms: idle.p99, idleProcessLagMaxMs: idle.max };
  const estimatedMainThread = {
    tokenize: (result.textsPerS * costs.tokenizeUsPerText) / 1e6,
    jsonEncode: label === 'http' ? (result.textsPerS * costs.jsonEncodeUsPerText) / 1e6 : 0,
    jsonParse: label === 'http' ? (result.requestsPerS * costs.jsonParseUsPerRequest) / 1e6 : 0,
  };
  log(
    `  ${label} c=${concurrency}: ${result.textsPerS.toFixed(0)} texts/s, p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms, ` +
      `batch ${server.meanBatchSize.toFixed(1)} (padding eff. ${server.paddingEfficiency === null ? '?' : (server.paddingEfficiency * 100).toFixed(0) + '%'}), model busy ${(server.modelBusy * 100).toFixed(0)}%, lag p99 ${server.eventLoopLagP99Ms?.toFixed(1) ?? '?'} ms (idle process ${idle.p99.toFixed(1)}), ` +
      `cores: server ${cpu.cores.server.toFixed(2)} (main ${cpu.mainThreadCores.server.toFixed(2)}) client ${cpu.cores.client.toFixed(2)} others ${cpu.othersCores.toFixed(2)}` +
      (result.errors ? `, ${result.errors} errors: ${result.firstError}` : ''),
  );
  return { ...result, cpu, server, estimatedMainThread };
}

/** The best round of a phase: other people's load on the shared cores only ever takes throughput away. */
function best<T extends { textsPerS: number }>(rounds: T[]): T {
  return rounds.reduce((a, b) => (b.textsPerS > a.textsPerS ? b : a));
}

/** Raw phases are keyed by batch size and spinning mode. */
const rawKey = (batchSize: number, spinning: boolean) => batchSize * 2 + (spinning ? 1 : 0);

const oneLine = (e: unknown) => (e as Error).message.split('\n')[0];

async function benchModel(name: string, o: Options, flags: string[]): Promise<ModelReport> {
  const dir = modelDir(name);
  log(`model ${name}: ${dir}`);
  const workload = modelWorkload(dir, { seed: o.seed, requests: o.requests });
  const meanTokensPerText = workload.tokens.reduce((a, b) => a + b, 0) / workload.encoded.length;
  const eventLoopArgs = flags.includes('--event-loop-metrics') ? ['--event-loop-metrics'] : [];
  const serverArgs = [...eventLoopArgs, ...o.serverArgs];
  const spec = { model: dir, seed: o.seed, requests: o.requests, intraOpThreads: o.threads };

  // Everything loads first, then the phases run interleaved in rounds.
  const server = await startServer({ model: dir, intraOpThreads: o.threads, extraArgs: serverArgs, grpc: o.grpc });
  const probe = await LagProbe.start();
  const closers: (() => void)[] = [() => probe.close()];
  const rawRounds = new Map<number, RawBatchResult[]>();
  const httpRounds = new Map<number, ServedRun[]>();
  const grpcRounds = new Map<number, ServedRun[]>();
  const grpcBatchRounds = new Map<number, ServedRun[]>();
  const tjsRounds = new Map<number, LoadResult[]>();
  const push = <T>(m: Map<number, T[]>, k: number, v: T) => m.set(k, [...(m.get(k) ?? []), v]);
  let rawInfo: Skippable<RawInfo> = { skipped: 'disabled (--no-ceiling)' };
  let tjsInfo: TjsInfo = { skipped: 'disabled (--no-tjs)' };
  let grpcSkip: string | null = o.grpc ? null : 'disabled (--no-grpc)';
  let dimensions: number | null = null;
  let costs: MainThreadCosts;
  try {
    const info = (await (await fetch(`${server.httpUrl}/info`)).json()) as { dimensions?: number };
    dimensions = info.dimensions ?? null;
    costs = measureCosts(workload, dimensions ?? 384);

    let raw: AnchorProcess<RawPhase, RawBatchResult> | null = null;
    if (o.ceiling) {
      try {
        const started = await AnchorProcess.start<RawInit, RawPhase, RawBatchResult>('raw-session', { ...spec, maxBatchTokens: 16384 });
        raw = started.anchor;
        rawInfo = started.info as RawInfo;
        closers.push(() => raw!.close());
      } catch (e) {
        rawInfo = { skipped: oneLine(e) };
      }
    }
    let tjs: AnchorProcess<TjsPhase, LoadResult> | null = null;
    if (o.tjs) {
      try {
        const started = await AnchorProcess.start<TjsInit, TjsPhase, LoadResult>('transformers-js', {
          ...spec,
          spinning: o.spinning.includes(true) && !o.spinning.includes(false),
        });
        tjsInfo = started.info as TjsInfo;
        closers.push(() => started.anchor.close());
        if ('skipped' in tjsInfo) log(`  transformers.js: ${tjsInfo.skipped}`);
        else tjs = started.anchor;
      } catch (e) {
        tjsInfo = { skipped: oneLine(e) };
      }
    }
    const http = await httpDriver(server.httpUrl);
    closers.push(() => http.close());
    // gRPC two ways: tei.v1.Embed (one call per text, as TEI's gRPC clients do) and
    // coalesce.v1.EmbedBatch (one call per request). Informative only: round 1 alone.
    let grpc: Driver | null = null;
    let grpcBatch: Driver | null = null;
    if (o.grpc) {
      const factory = await grpcDriverFactory();
      if (typeof factory === 'string') grpcSkip = factory;
      else if (!server.grpcTarget) grpcSkip = 'the server has no gRPC port flag in this build';
      else {
        grpc = await factory(server.grpcTarget, { api: 'tei' });
        grpcBatch = await factory(server.grpcTarget, { api: 'batch' });
        closers.push(
          () => grpc?.close(),
          () => grpcBatch?.close(),
        );
      }
    }

    // JIT and allocator warm-up of every path at the top concurrency, not recorded: otherwise the
    // first round's first phases measure V8 compiling the server and the tokenizer.
    const top = Math.max(...o.concurrency);
    const warm = { concurrency: top, warmupS: 0, durationS: 1 };
    await runLoad(http, workload, warm);
    if (grpc) await runLoad(grpc, workload, warm).catch(() => {});
    if (grpcBatch) await runLoad(grpcBatch, workload, warm).catch(() => {});
    if (tjs) await tjs.run(warm);

    for (let round = 1; round <= o.rounds; round++) {
      log(`  round ${round}/${o.rounds}`);
      for (const c of o.concurrency) {
        push(httpRounds, c, await servedPhase(http, server, workload, o, costs, 'http', c, probe));
        if (grpc && grpcBatch && round === 1) {
          try {
            push(grpcRounds, c, await servedPhase(grpc, server, workload, o, costs, 'grpc', c, probe));
            push(grpcBatchRounds, c, await servedPhase(grpcBatch, server, workload, o, costs, 'grpc-batch', c, probe));
          } catch (e) {
            grpcSkip = `failed: ${oneLine(e)}`;
            grpc = grpcBatch = null;
          }
        }
        if (tjs) {
          const r = await tjs.run({ concurrency: c, warmupS: o.warmupS, durationS: o.durationS });
          log(`  transformers.js c=${c}: ${r.textsPerS.toFixed(0)} texts/s, p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms`);
          push(tjsRounds, c, r);
        }
      }
      if (raw) {
        for (const spinning of o.spinning) {
          for (const b of o.ceilingBatches) {
            const r = await raw.run({ batchSize: b, spinning, warmupS: o.warmupS, durationS: o.durationS });
            log(
              `  raw ORT b=${b}${spinning ? ' spinning' : ''}: ${r.textsPerS.toFixed(0)} texts/s, ${r.msPerBatch.toFixed(1)} ms/batch, ` +
                `cores ${r.cpu.cores.ort.toFixed(2)} others ${r.cpu.othersCores.toFixed(2)}`,
            );
            push(rawRounds, rawKey(b, spinning), r);
          }
        }
      }
    }
  } finally {
    for (const close of closers) close();
    await server.stop();
  }

  const profile = o.profile ? await profileRun(dir, o, serverArgs, workload) : null;

  const httpBest: Skippable<ServedRun[]> = httpRounds.size ? [...httpRounds.values()].map(best) : { skipped: 'not run' };
  const grpcBest: Skippable<ServedRun[]> = grpcSkip !== null && grpcRounds.size === 0 ? { skipped: grpcSkip } : [...grpcRounds.values()].map(best);
  const grpcBatchBest: Skippable<ServedRun[]> =
    grpcSkip !== null && grpcBatchRounds.size === 0 ? { skipped: grpcSkip } : [...grpcBatchRounds.values()].map(best);
  const ceiling: Skippable<RawResult> = 'skipped' in rawInfo ? rawInfo : { ...rawInfo, results: [...rawRounds.values()].map(best) };
  const transformersJs: TjsResult = 'skipped' in tjsInfo ? tjsInfo : { ...tjsInfo, runs: [...tjsRounds.values()].map(best) };
  const top = Math.max(...o.concurrency);
  return {
    name,
    dir: dir.startsWith(ROOT) ? dir.slice(ROOT.length) : dir,
    dimensions,
    maxLength: workload.manifest.maxLength,
    meanTokensPerText,
    http: httpBest,
    grpc: grpcBest,
    grpcBatch: grpcBatchBest,
    ceiling,
    transformersJs,
    costs: costs!,
    profile,
    targets: computeTargets(top, httpRounds.get(top) ?? [], [...rawRounds.values()], tjsRounds.get(top) ?? []),
    rounds: {
      http: [...httpRounds.values()],
      grpc: [...grpcRounds.values()],
      grpcBatch: [...grpcBatchRounds.values()],
      transformersJs: [...tjsRounds.values()],
      ceiling: [...rawRounds.values()],
    },
  };
}

/** One more server run at the top concurrency under --cpu-prof: where the main thread's time goes. */
async function profileRun(dir: string, o: Options, serverArgs: string[], workload: LoadWorkload): Promise<Skippable<ProfileSummary>> {
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
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '?',
      loadAverage: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
      seed: o.seed,
      requests: o.requests,
      singleShare: 0.7,
      durationS: o.durationS,
      warmupS: o.warmupS,
      rounds: o.rounds,
      intraOpThreads: o.threads,
      concurrency: o.concurrency,
      serverArgs: o.serverArgs,
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
