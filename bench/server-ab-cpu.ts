/**
 * CPU A/B of two server variants (flags and/or environment variables) through the real server:
 * two server processes on the MiniLM-shaped random BERT (bench/models/mid-bert.ts), the CPU
 * benchmark's workload (bench/workload.ts: mostly one text, else 2-8, so batch shapes vary),
 * closed-loop phases interleaved a/b/b/a round after round so load from other processes hits
 * both alike. Reports texts/s, the server's CPU time per text and its RSS (after start, after
 * each phase, and idle after the last one).
 *
 *   npx tsc -p bench && node dist/bench/server-ab-cpu.js --a "" --b "MALLOC_ARENA_MAX=2" --out malloc-arena-max-cpu
 *     [--rounds 4] [--concurrency 16,64,256] [--duration 5] [--settle-s 30]
 *
 * A variant is words: NAME=value sets an environment variable, main=PATH runs another build's
 * dist/src/main.js (two commits side by side), anything else is a server flag ("--mem-pattern off");
 * empty means the server's defaults. `--model DIR` serves another model folder (the tiny fixture
 * makes the server's own costs, not the model's, the bulk of a request). Writes
 * bench/results/<out>.{json,md}.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { flagValue } from './args.js';
import { withCpu } from './cpu-usage.js';
import { httpDriver } from './drivers/http-driver.js';
import { runLoad } from './load.js';
import { ensureMidBert } from './models/mid-bert.js';
import { runMeta } from './run-meta.js';
import { startServer, type ServerProcess } from './server-process.js';
import { modelWorkload } from './workload.js';

const ROUNDS = Number(flagValue('rounds', '4'));
const CONCURRENCY = flagValue('concurrency', '16,64,256').split(',').map(Number);
const DURATION_S = Number(flagValue('duration', '5'));
const SETTLE_S = Number(flagValue('settle-s', '30'));
const OUT = flagValue('out', 'server-ab-cpu');
const MODEL = flagValue('model', null);
/** `--single`: one text per request (W2's shape), where per-request costs show; else the CPU benchmark's mix. */
const SINGLE = process.argv.includes('--single');

interface Variant {
  label: 'a' | 'b';
  /** As given: environment assignments, the build and flags. */
  spec: string;
  env: Record<string, string>;
  args: string[];
  mainJs?: string;
}

function variant(label: 'a' | 'b'): Variant {
  const spec = (flagValue(label) ?? '').trim();
  const words = spec.split(/\s+/).filter(Boolean);
  const isEnv = (w: string) => /^[A-Z_][A-Z0-9_]*=/.test(w);
  const isMain = (w: string) => w.startsWith('main=');
  const env = Object.fromEntries(words.filter(isEnv).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  const mainJs = words.find(isMain)?.slice('main='.length);
  return { label, spec: spec || 'server defaults', env, args: words.filter((w) => !isEnv(w) && !isMain(w)), mainJs };
}

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

interface Phase {
  variant: 'a' | 'b';
  round: number;
  concurrency: number;
  textsPerS: number;
  /** The server's CPU time per text (all its threads), µs. */
  cpuUsPerText: number;
  /** Of which the main thread's (HTTP, JSON, batching, its garbage collection). */
  mainThreadUsPerText: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  rssMb: number;
  othersCores: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const meta = runMeta();
  const model = MODEL ?? ensureMidBert();
  const workload = modelWorkload(model, { seed: 20240611, requests: 4000, singleShare: SINGLE ? 1 : undefined });
  const variants = [variant('a'), variant('b')];
  const servers = new Map<'a' | 'b', ServerProcess>();
  const started = new Map<'a' | 'b', number>();
  try {
    for (const v of variants) {
      const s = await startServer({ model, intraOpThreads: 0, extraArgs: v.args, env: v.env, mainJs: v.mainJs });
      servers.set(v.label, s);
      started.set(v.label, rssMb(s.child.pid!));
    }
    const phases: Phase[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // a, b, b, a, ...: neither variant always goes first.
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const concurrency of CONCURRENCY) {
        for (const v of order) {
          const server = servers.get(v.label)!;
          const pid = server.child.pid!;
          const driver = await httpDriver(server.httpUrl);
          try {
            const { result, cpu } = await withCpu({ server: pid }, () => runLoad(driver, workload, { concurrency, warmupS: 1, durationS: DURATION_S }));
            const phase: Phase = {
              variant: v.label,
              round,
              concurrency,
              textsPerS: result.textsPerS,
              cpuUsPerText: (cpu.cores.server / result.textsPerS) * 1e6,
              mainThreadUsPerText: (cpu.mainThreadCores.server / result.textsPerS) * 1e6,
              p50Ms: result.latencyMs.p50,
              p99Ms: result.latencyMs.p99,
              errors: result.errors,
              rssMb: rssMb(pid),
              othersCores: cpu.othersCores,
            };
            phases.push(phase);
            console.log(JSON.stringify(phase));
          } finally {
            driver.close();
          }
        }
      }
    }
    await sleep(SETTLE_S * 1000);
    const idle = new Map(variants.map((v) => [v.label, rssMb(servers.get(v.label)!.child.pid!)]));
    const summary = CONCURRENCY.map((concurrency) => {
      const row = (label: 'a' | 'b') => {
        const of = phases.filter((p) => p.variant === label && p.concurrency === concurrency);
        return {
          textsPerS: median(of.map((p) => p.textsPerS)),
          bestTextsPerS: Math.max(...of.map((p) => p.textsPerS)),
          cpuUsPerText: median(of.map((p) => p.cpuUsPerText)),
          mainThreadUsPerText: median(of.map((p) => p.mainThreadUsPerText)),
          p50Ms: median(of.map((p) => p.p50Ms)),
          p99Ms: median(of.map((p) => p.p99Ms)),
          errors: of.reduce((n, p) => n + p.errors, 0),
          maxRssMb: Math.max(...of.map((p) => p.rssMb)),
        };
      };
      return { concurrency, a: row('a'), b: row('b') };
    });
    const report = {
      ...meta,
      model,
      workload: `bench/workload.ts seed 20240611, 4000 requests (${SINGLE ? 'one text each' : '0.7 one text, the rest 2-8'})`,
      variants: Object.fromEntries(
        variants.map((v) => [v.label, { spec: v.spec, rssMbAfterStart: started.get(v.label), rssMbIdleAfterLoad: idle.get(v.label) }]),
      ),
      rounds: ROUNDS,
      durationS: DURATION_S,
      settleS: SETTLE_S,
      summary,
      phases,
    };
    // A bare name goes to bench/results; a path (with a slash) where it says.
    const out = OUT.includes('/') ? '' : fileURLToPath(new URL('../../bench/results/', import.meta.url));
    writeFileSync(`${out}${OUT}.json`, `${JSON.stringify(report, null, 2)}\n`);
    const md = markdown(report);
    writeFileSync(`${out}${OUT}.md`, md);
    console.log(md);
  } finally {
    for (const s of servers.values()) await s.stop();
  }
}

function markdown(r: {
  model: string;
  workload: string;
  date: string;
  commit: string;
  machine: string;
  loadAverageAtStart: number[];
  variants: Record<string, { spec: string; rssMbAfterStart?: number; rssMbIdleAfterLoad?: number }>;
  rounds: number;
  durationS: number;
  settleS: number;
  summary: { concurrency: number; a: Record<string, number>; b: Record<string, number> }[];
}): string {
  const f = (x: number) => x.toFixed(0);
  const name = (label: string) => `${label}: \`${r.variants[label].spec}\``;
  return [
    `# Server A/B on the CPU: ${r.variants.a.spec} vs ${r.variants.b.spec}`,
    '',
    `${r.date}, commit ${r.commit}, ${r.machine}; load average at start ${r.loadAverageAtStart.join(' ')}; shared with other users' jobs while it ran.`,
    `Model: ${MODEL ? `\`${r.model}\`` : 'MiniLM-shaped BERT (6 x 384, random weights, bench/models/mid-bert.ts)'}. ` +
      `Two server processes side by side, HTTP /embed with the CPU benchmark's workload (${r.workload}). ` +
      `Closed loop, ${r.rounds} rounds interleaved (a, b, b, a, ...), ${r.durationS} s measured per phase after a warm-up; medians of the rounds (best texts/s in brackets). The CPU time per text is the server's, all its threads.`,
    '',
    '| clients | variant | texts/s | server CPU µs/text | of which main thread | p50 ms | p99 ms | errors | RSS after a phase, max (MB) |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.summary.flatMap((s) =>
      (['a', 'b'] as const).map(
        (v) =>
          `| ${s.concurrency} | ${name(v)} | ${f(s[v].textsPerS)} (${f(s[v].bestTextsPerS)}) | ${f(s[v].cpuUsPerText)} | ${f(s[v].mainThreadUsPerText)} | ${f(s[v].p50Ms)} | ${f(s[v].p99Ms)} | ${s[v].errors} | ${s[v].maxRssMb} |`,
      ),
    ),
    '',
    `| variant | RSS after start (MB) | RSS idle ${r.settleS} s after the load (MB) |`,
    '| --- | ---: | ---: |',
    ...(['a', 'b'] as const).map((v) => `| ${name(v)} | ${r.variants[v].rssMbAfterStart} | ${r.variants[v].rssMbIdleAfterLoad} |`),
    '',
    'Run: `npx tsc -p bench && node dist/bench/server-ab-cpu.js --a "<variant>" --b "<variant>" --out NAME [--rounds 4] [--concurrency 16,64,256] [--duration 5] [--settle-s 30]` (a variant: NAME=value environment variables and server flags).',
    '',
  ].join('\n');
}

await main();
