/**
 * Cold start: from spawning the server process to its first /health 200, N times, for one model
 * and set of flags. Also read from its JSON log: when the 'listening' line came, and what the
 * 'model loaded' line says loading took (ms) and warming shape buckets took (warmupMs,
 * warmedShapes). With background warm-up (--warmup background), also the time until /info says
 * every shape is warm.
 *
 *   node dist/bench/cold-start.js [--model models/default] [--device cpu] [--onnx-file f.onnx]
 *     [--runs 3] [--timeout-seconds 300] [--out bench/results] [--name cold-start-cpu]
 *     [--commit abc123] [-- <server args>]
 *
 * Writes <out>/<name>.{json,md} (name: cold-start-<cpu|gpu> unless given), even when a run fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { flagValue } from './args.js';
import { ownArgs, passThroughArgs, runMeta, type RunMeta } from './run-meta.js';
import { freePort, MAIN_JS } from './server-process.js';

const argv = ownArgs();
const flag = (name: string, fallback: string) => flagValue(name, fallback, argv);
const MODEL = flag('model', 'models/default');
const DEVICE = flag('device', 'cpu');
const ONNX_FILE = flagValue('onnx-file', null, argv);
const RUNS = Number(flag('runs', '3'));
const TIMEOUT_S = Number(flag('timeout-seconds', '300'));
const OUT = flag('out', 'bench/results');
const NAME = flag('name', `cold-start-${DEVICE.startsWith('cuda') ? 'gpu' : 'cpu'}`);
const SERVER_ARGS = ['--device', DEVICE, ...(ONNX_FILE ? ['--onnx-file', ONNX_FILE] : []), ...passThroughArgs()];

interface ColdRun {
  /** ms from spawn. */
  healthyMs: number | null;
  listeningMs: number | null;
  modelLoadedMs: number | null;
  /** From the 'model loaded' line: loading the model (ms) and warming its shapes. */
  loadMs: number | null;
  /** 'model loaded' line's time from spawn less its ms: Node start, imports, reading the model folder, the tokenizer. */
  beforeLoadMs: number | null;
  warmupMs: number | null;
  warmedShapes: number | null;
  /** With background warm-up: ms from spawn until /info said every shape was warm, and the shapes then. */
  allWarmMs: number | null;
  warmupAtHealthy: unknown;
  error: string | null;
}

interface ColdReport extends RunMeta {
  model: string;
  device: string;
  serverArgs: string[];
  runs: ColdRun[];
  summary: Record<string, { median: number | null; max: number | null }>;
}

/** The first 'warmup' object /info shows for a model, wherever it sits. */
function findWarmup(info: unknown): { state?: string; shapes_done?: number; shapes_total?: number } | null {
  if (!info || typeof info !== 'object') return null;
  for (const [k, v] of Object.entries(info)) {
    if (k === 'warmup' && v && typeof v === 'object') return v as never;
    const inner = typeof v === 'object' ? findWarmup(v) : null;
    if (inner) return inner;
  }
  return null;
}

/** The server being timed, killed with this process (a time limit must not leave it holding the GPU). */
let current: ChildProcess | null = null;
process.once('SIGTERM', () => {
  current?.kill('SIGKILL');
  process.exit(124);
});

async function once(): Promise<ColdRun> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const run: ColdRun = {
    healthyMs: null,
    listeningMs: null,
    modelLoadedMs: null,
    loadMs: null,
    beforeLoadMs: null,
    warmupMs: null,
    warmedShapes: null,
    allWarmMs: null,
    warmupAtHealthy: null,
    error: null,
  };
  const args = [MAIN_JS, '--model', MODEL, '--hostname', '127.0.0.1', '--port', String(port), '--grpc-port', '-1', '--log-format', 'json', ...SERVER_ARGS];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  current = child;
  const since = () => Math.round(performance.now() - t0);
  let out = '';
  let pending = '';
  const onData = (b: Buffer) => {
    const text = b.toString('utf8');
    out = (out + text).slice(-8000);
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (entry.message === 'listening') run.listeningMs ??= since();
      if (entry.message === 'model loaded' && run.modelLoadedMs === null) {
        run.modelLoadedMs = since();
        run.loadMs = typeof entry.ms === 'number' ? entry.ms : null;
        run.beforeLoadMs = run.loadMs === null ? null : run.modelLoadedMs - run.loadMs;
        run.warmupMs = typeof entry.warmupMs === 'number' ? entry.warmupMs : null;
        run.warmedShapes = typeof entry.warmedShapes === 'number' ? entry.warmedShapes : null;
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited: number | null = null;
  const gone = new Promise<void>((r) =>
    child.once('exit', (code) => {
      exited = code ?? -1;
      r();
    }),
  );
  const deadline = performance.now() + TIMEOUT_S * 1000;
  const get = (path: string) =>
    fetch(url + path, { signal: AbortSignal.timeout(5000) }).then(
      async (r) => ({ status: r.status, body: r.status === 200 && path === '/info' ? await r.json() : null }),
      () => ({ status: 0, body: null }),
    );
  try {
    for (;;) {
      if (exited !== null) throw new Error(`the server exited (code ${exited}) before it was healthy: ${out.slice(-1500)}`);
      if (performance.now() > deadline) throw new Error(`not healthy within ${TIMEOUT_S} s: ${out.slice(-1500)}`);
      if ((await get('/health')).status === 200) {
        run.healthyMs = since();
        break;
      }
      await sleep(20);
    }
    const warm = findWarmup((await get('/info')).body);
    run.warmupAtHealthy = warm;
    if (warm?.state === 'background') {
      for (;;) {
        if (performance.now() > deadline) throw new Error(`shapes still warming after ${TIMEOUT_S} s`);
        const w = findWarmup((await get('/info')).body);
        if (w?.state !== 'background') {
          run.allWarmMs = since();
          break;
        }
        await sleep(100);
      }
    }
  } catch (e) {
    run.error = (e as Error).message;
  } finally {
    if (exited === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    }
  }
  return run;
}

function stats(xs: (number | null)[]): { median: number | null; max: number | null } {
  const v = xs.filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return { median: null, max: null };
  const median = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  return { median, max: v[v.length - 1] };
}

const ms = (x: number | null) => (x === null ? '–' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

function markdown(r: ColdReport): string {
  const keys: [keyof ColdRun, string][] = [
    ['healthyMs', 'spawn -> first /health 200'],
    ['listeningMs', "spawn -> 'listening' log line"],
    ['modelLoadedMs', "spawn -> 'model loaded' log line"],
    ['beforeLoadMs', 'before loading: Node start, imports, model folder, tokenizer'],
    ['loadMs', "loading the model: sessions and warm-up ('model loaded' ms)"],
    ['warmupMs', "warming shape buckets ('model loaded' warmupMs)"],
    ['allWarmMs', 'spawn -> every shape warm (background warm-up)'],
  ];
  return [
    `# Cold start (${r.device})`,
    '',
    `${r.date}, commit ${r.commit}, ${r.machine}, load average at start ${r.loadAverageAtStart.join(' ')}.${r.note ? ` ${r.note}` : ''}`,
    `Model \`${r.model}\`; server args \`${r.serverArgs.join(' ')}\`; ${r.runs.length} runs, one after another, each a fresh process.`,
    '',
    '| measure | median | max | runs |',
    '| --- | ---: | ---: | --- |',
    ...keys.map(
      ([k, name]) => `| ${name} | ${ms(r.summary[k].median)} | ${ms(r.summary[k].max)} | ${r.runs.map((x) => ms(x[k] as number | null)).join(', ')} |`,
    ),
    '',
    `Shapes warmed before healthy: ${r.runs.map((x) => x.warmedShapes ?? '–').join(', ')}.` +
      (r.runs.some((x) => x.warmupAtHealthy) ? ` /info warmup when healthy: ${r.runs.map((x) => JSON.stringify(x.warmupAtHealthy)).join('; ')}.` : ''),
    ...r.runs.filter((x) => x.error).map((x) => `\nA run failed: ${x.error!.slice(0, 400)}`),
    '',
    'Times run from spawning `node dist/src/main.js` (Node start and module loading included) and /health is polled every 20 ms.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const report: ColdReport = { ...runMeta(argv), model: MODEL, device: DEVICE, serverArgs: SERVER_ARGS, runs: [], summary: {} };
  const save = () => {
    for (const k of ['healthyMs', 'listeningMs', 'modelLoadedMs', 'beforeLoadMs', 'loadMs', 'warmupMs', 'allWarmMs'] as const) {
      report.summary[k] = stats(report.runs.map((x) => x[k]));
    }
    writeFileSync(join(OUT, `${NAME}.json`), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(OUT, `${NAME}.md`), markdown(report));
  };
  for (let i = 0; i < RUNS; i++) {
    const r = await once();
    report.runs.push(r);
    save();
    console.log(
      `run ${i + 1}: healthy ${ms(r.healthyMs)}, listening ${ms(r.listeningMs)}, load ${ms(r.loadMs)}, warm-up ${ms(r.warmupMs)} (${r.warmedShapes ?? '–'} shapes)` +
        (r.allWarmMs !== null ? `, all warm ${ms(r.allWarmMs)}` : '') +
        (r.error ? `; failed: ${r.error.slice(0, 300)}` : ''),
    );
  }
  save();
  const h = report.summary.healthyMs;
  console.log(`spawn -> /health 200: median ${ms(h.median)}, max ${ms(h.max)}; wrote ${join(OUT, NAME)}.{json,md}`);
  if (report.runs.some((r) => r.error)) process.exitCode = 1;
}

void main();
