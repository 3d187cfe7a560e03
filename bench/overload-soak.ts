/**
 * Overload and soak: the real server as a child process, its capacity found first (closed loop),
 * then an open-loop load at `--overload` x that capacity for `--soak-s` seconds with aborting
 * clients mixed in. Counts every outcome (2xx / 429 / other 4xx / 5xx / socket errors / aborted),
 * checks every 2xx against a reference vector, samples the server's RSS every second, and after the
 * load checks that the queue and the admitted requests go back to 0 and RSS back near its baseline.
 *
 *   node dist/bench/overload-soak.js [--model DIR] [--soak-s 150] [--overload 5] [--abort-share 0.1] [--texts 8]
 *     [--server-args "--idle-heap-release 0"] [--server-env "MALLOC_ARENA_MAX=2"] [--out overload-soak]
 *
 * Writes bench/results/<out>.{json,md}.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { flagValue } from './args.js';
import { cosine } from './cosine.js';
import { startServer, type ServerProcess } from './server-process.js';
import { ensureMidBert } from './models/mid-bert.js';

/** Default: a MiniLM-shaped BERT (6 x 384, random weights, built once into the temp folder): realistic compute per token. */
const MODEL = flagValue('model') ?? ensureMidBert();
const SOAK_S = Number(flagValue('soak-s', '150'));
const OVERLOAD = Number(flagValue('overload', '5'));
const ABORT_SHARE = Number(flagValue('abort-share', '0.1'));
const CAPACITY_S = Number(flagValue('capacity-s', '10'));
/** Enough clients that batches reach their limits: the idle baseline RSS then includes ONNX Runtime's arena at full batch size. */
const CAPACITY_CLIENTS = Number(flagValue('capacity-clients', '128'));
const TEXTS_PER_REQUEST = Number(flagValue('texts', '8'));
const MIN_COSINE = 0.9999;
/** Idle time after each load (the capacity run, the overload) before RSS is read. */
const SETTLE_S = Number(flagValue('settle-s', '30'));
/** Server flags beyond its defaults, space-separated (e.g. "--idle-heap-release 0"). */
const SERVER_ARGS = (flagValue('server-args') ?? '').split(' ').filter(Boolean);
/** Environment variables for the server, space-separated NAME=value. */
const SERVER_ENV: Record<string, string> = Object.fromEntries(
  (flagValue('server-env') ?? '')
    .split(' ')
    .filter((w) => w.includes('='))
    .map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
);
const OUT = flagValue('out', 'overload-soak');

const TEXTS = [
  'Coalesce batches concurrent requests into one model call.',
  'hello world',
  'The quick brown fox jumps over the lazy dog.',
  'An embedding server under overload must answer 429 fast rather than hang.',
  'short',
  'Deadlines, drains and budgets keep a server predictable when clients misbehave.',
  'What happens to memory when five times the capacity arrives for minutes?',
  'Every answer is checked against a reference vector computed before the load.',
  'A client that goes away has its queued inputs dropped before they reach the model.',
  'Tokenization, batching and inference share two cores with the load generator here.',
  'numbers 1 2 3 4 5 6 7 8 9 10 and punctuation !? ; :',
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.',
];

interface Counts {
  sent: number;
  ok: number;
  wrong: number;
  tooMany: number;
  otherClient: number;
  server: number;
  socket: number;
  aborted: number;
  /** Status codes other than 200 and 429, with their counts. */
  statuses: Record<string, number>;
  firstProblem: string | null;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

/** The texts of request `i`: TEXTS_PER_REQUEST of them, starting at i. */
const textsOf = (i: number) => Array.from({ length: TEXTS_PER_REQUEST }, (_, k) => (i + k) % TEXTS.length);

async function embed(url: string, texts: string | string[], signal?: AbortSignal): Promise<{ status: number; vectors: number[][] | null }> {
  const r = await fetch(`${url}/embed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: texts }), signal });
  const body = await r.text();
  return { status: r.status, vectors: r.status === 200 ? (JSON.parse(body) as number[][]) : null };
}

interface Gauges {
  queue: number;
  inProgress: number;
  /** The main thread's JavaScript heap, committed and used (MB; NaN where /metrics lacks them). */
  heapMb: number;
  heapUsedMb: number;
}

async function gauges(url: string): Promise<Gauges> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  return {
    queue: value('te_queue_size'),
    inProgress: value('te_requests_in_progress'),
    heapMb: mb(value('nodejs_heap_size_total_bytes')),
    heapUsedMb: mb(value('nodejs_heap_size_used_bytes')),
  };
}

/** RSS and the main thread's heap, read together. */
async function memory(url: string, pid: number): Promise<{ rss: number; heapMb: number; heapUsedMb: number }> {
  const g = await gauges(url);
  return { rss: rssMb(pid), heapMb: g.heapMb, heapUsedMb: g.heapUsedMb };
}

/** Closed loop: `clients` clients for `seconds`, answered requests per second. */
async function capacity(url: string, clients: number, seconds: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let answered = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = c; performance.now() < until; i++) {
        const r = await embed(
          url,
          textsOf(i).map((t) => TEXTS[t]),
        );
        if (r.status === 200) answered++;
      }
    }),
  );
  return answered / seconds;
}

async function main(): Promise<void> {
  const server: ServerProcess = await startServer({ model: MODEL, intraOpThreads: 0, extraArgs: SERVER_ARGS, env: SERVER_ENV });
  const pid = server.child.pid!;
  let exitCode: number | null = null;
  server.child.once('exit', (code, signal) => (exitCode = code ?? (signal ? 128 : -1)));
  const url = server.httpUrl;
  try {
    const references: number[][] = [];
    for (const t of TEXTS) references.push((await embed(url, t)).vectors![0]);
    const started0 = await memory(url, pid);
    await capacity(url, CAPACITY_CLIENTS, 3); // warm-up
    const capacityRps = await capacity(url, CAPACITY_CLIENTS, CAPACITY_S);
    // The baseline waits as long after the capacity run as "after" waits after the overload, so
    // both readings see the same idle-time behaviour (the server's heap release, allocators).
    await sleep(SETTLE_S * 1000);
    const baseline = await memory(url, pid);
    const baselineRss = baseline.rss;
    const rate = Math.round(capacityRps * OVERLOAD);
    console.log(`capacity ${capacityRps.toFixed(1)} req/s; overload ${rate} req/s for ${SOAK_S} s; baseline RSS ${baselineRss} MB`);

    const counts: Counts = { sent: 0, ok: 0, wrong: 0, tooMany: 0, otherClient: 0, server: 0, socket: 0, aborted: 0, statuses: {}, firstProblem: null };
    const rss: ({ t: number; mb: number } & Gauges)[] = [];
    const started = performance.now();
    const inFlight = new Set<Promise<void>>();
    const sampler = setInterval(() => {
      void gauges(url).then(
        (g) => rss.push({ t: Math.round((performance.now() - started) / 1000), mb: exitCode === null ? rssMb(pid) : NaN, ...g }),
        () => {},
      );
    }, 1000);
    const one = (i: number) => {
      const texts = textsOf(i);
      const aborting = Math.random() < ABORT_SHARE;
      const controller = aborting ? new AbortController() : null;
      const timer = controller ? setTimeout(() => controller.abort(), Math.random() * 200) : null;
      counts.sent++;
      const p = embed(
        url,
        texts.map((t) => TEXTS[t]),
        controller?.signal,
      )
        .then(
          (r) => {
            if (r.status === 200) {
              const wrong = texts.findIndex((t, k) => !(cosine(r.vectors![k], references[t]) >= MIN_COSINE));
              if (wrong < 0 && r.vectors!.length === texts.length) counts.ok++;
              else {
                counts.wrong++;
                counts.firstProblem ??= `wrong vector for text ${texts[wrong]}`;
              }
              return;
            }
            counts.statuses[r.status] = (counts.statuses[r.status] ?? 0) + 1;
            if (r.status === 429) counts.tooMany++;
            else if (r.status >= 500) {
              counts.server++;
              counts.firstProblem ??= `status ${r.status}`;
            } else counts.otherClient++;
          },
          (e: Error) => {
            if (controller?.signal.aborted) counts.aborted++;
            else {
              counts.socket++;
              counts.firstProblem ??= `socket: ${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`;
            }
          },
        )
        .finally(() => {
          if (timer) clearTimeout(timer);
          inFlight.delete(p);
        });
      inFlight.add(p);
    };
    // Open loop: requests go out on schedule whether or not earlier ones were answered.
    // What is due follows the clock, so a tick delayed by a busy CPU sends its backlog.
    let i = 0;
    while (performance.now() - started < SOAK_S * 1000 && exitCode === null) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      while (i < due) one(i++);
      await sleep(5);
    }
    const loadEnded = performance.now();
    await Promise.race([Promise.all(inFlight), sleep(60_000)]);
    // Back to idle: the queue and admitted requests drain to 0.
    let drainedS: number | null = null;
    for (let s = 0; s < 60 && exitCode === null; s++) {
      const g = await gauges(url).catch(() => ({ queue: NaN, inProgress: NaN }));
      if (g.queue === 0 && g.inProgress === 0) {
        drainedS = Math.round((performance.now() - loadEnded) / 100) / 10;
        break;
      }
      await sleep(500);
    }
    // Let the collector and allocators return what they can before reading RSS "after".
    await sleep(SETTLE_S * 1000);
    clearInterval(sampler);
    const afterMemory = exitCode === null ? await memory(url, pid) : { rss: NaN, heapMb: NaN, heapUsedMb: NaN };
    const afterRss = afterMemory.rss;
    const peakRss = Math.max(...rss.map((r) => r.mb).filter(Number.isFinite));
    const healthAfter = exitCode === null ? ((await fetch(`${url}/health`).catch(() => null))?.status ?? 0) : 0;
    const report = {
      date: new Date().toISOString(),
      commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
      machine: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; shared with other users' jobs while it ran`,
      model: MODEL,
      serverArgs: SERVER_ARGS,
      serverEnv: SERVER_ENV,
      capacityRps: Math.round(capacityRps * 10) / 10,
      overloadRps: rate,
      sentRps: Math.round(counts.sent / SOAK_S),
      textsPerRequest: TEXTS_PER_REQUEST,
      soakS: SOAK_S,
      abortShare: ABORT_SHARE,
      counts,
      crashed: exitCode !== null,
      queueBackToZeroS: drainedS,
      healthAfter,
      rssMb: {
        started: started0.rss,
        baseline: baselineRss,
        peak: peakRss,
        after: afterRss,
        afterVsBaseline: Math.round((afterRss / baselineRss - 1) * 1000) / 10,
      },
      /** The main thread's JavaScript heap, committed / used, at the same moments. */
      heapMb: {
        started: [started0.heapMb, started0.heapUsedMb],
        baseline: [baseline.heapMb, baseline.heapUsedMb],
        peak: Math.max(...rss.map((r) => r.heapMb).filter(Number.isFinite)),
        after: [afterMemory.heapMb, afterMemory.heapUsedMb],
      },
      rssSeries: rss,
      targets: {
        no5xx: counts.server === 0,
        noCrash: exitCode === null,
        noWrong: counts.wrong === 0,
        rssWithin10Pct: afterRss <= baselineRss * 1.1,
        queueBackToZero: drainedS !== null,
      },
    };
    const out = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    writeFileSync(`${out}${OUT}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${out}${OUT}.md`, markdown(report));
    console.log(markdown(report));
  } finally {
    await server.stop();
  }
}

function markdown(r: {
  date: string;
  commit: string;
  machine: string;
  model: string;
  serverArgs: string[];
  serverEnv: Record<string, string>;
  capacityRps: number;
  overloadRps: number;
  sentRps: number;
  textsPerRequest: number;
  soakS: number;
  abortShare: number;
  counts: Counts;
  crashed: boolean;
  queueBackToZeroS: number | null;
  healthAfter: number;
  rssMb: { started: number; baseline: number; peak: number; after: number; afterVsBaseline: number };
  heapMb: { started: number[]; baseline: number[]; peak: number; after: number[] };
  rssSeries: ({ t: number; mb: number } & Gauges)[];
  targets: Record<string, boolean>;
}): string {
  const c = r.counts;
  const every = Math.max(1, Math.ceil(r.rssSeries.length / 12));
  const series = r.rssSeries.filter((_, i) => i % every === 0 || i === r.rssSeries.length - 1);
  return [
    '# Overload and soak',
    '',
    `${r.date}, commit ${r.commit}, ${r.machine}. Model \`${r.model.includes('mid-bert') ? 'MiniLM-shaped BERT (6 x 384, random weights, bench/models/mid-bert.ts)' : r.model}\`, server defaults (one process, HTTP on the main thread)${r.serverArgs.length > 0 ? ` but \`${r.serverArgs.join(' ')}\`` : ''}${
      Object.keys(r.serverEnv).length > 0
        ? `, environment \`${Object.entries(r.serverEnv)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}\``
        : ''
    }.`,
    '',
    `Capacity (closed loop, ${CAPACITY_CLIENTS} clients, ${r.textsPerRequest} short texts per request): **${r.capacityRps} req/s**. Then an open loop at`,
    `**${r.overloadRps} req/s** (${OVERLOAD}x; ${r.sentRps} req/s actually sent) for ${r.soakS} s, ${Math.round(r.abortShare * 100)} % of the requests aborted by their client after 0-200 ms.`,
    "The load generator runs on the same machine as the server (and, here, beside other people's jobs on",
    "shared cores): the capacity is this machine's at that moment, not a figure to compare across runs.",
    '',
    '| outcome | count |',
    '| --- | ---: |',
    `| sent | ${c.sent} |`,
    `| 200, every vector checked (cosine >= ${MIN_COSINE} with its reference) | ${c.ok} |`,
    `| 200 with a wrong vector | ${c.wrong} |`,
    `| 429 (over --max-concurrent-requests) | ${c.tooMany} |`,
    `| other 4xx | ${c.otherClient} |`,
    `| 5xx | ${c.server} |`,
    `| socket errors (not aborted by the client) | ${c.socket} |`,
    `| aborted by the client | ${c.aborted} |`,
    '',
    `Server process: ${r.crashed ? '**crashed**' : 'no crash'}; queue and admitted requests back to 0 ${r.queueBackToZeroS === null ? '**never** (within 60 s)' : `${r.queueBackToZeroS} s after the load`}; /health after: ${r.healthAfter}.`,
    '',
    `RSS: baseline ${r.rssMb.baseline} MB (idle ${SETTLE_S} s after the capacity run), peak ${r.rssMb.peak} MB, ${r.rssMb.after} MB ${SETTLE_S} s after the queue emptied (${r.rssMb.afterVsBaseline >= 0 ? '+' : ''}${r.rssMb.afterVsBaseline} %); ${r.rssMb.started} MB right after start.`,
    `Main thread's JavaScript heap (committed / used, MB): ${r.heapMb.started.join(' / ')} after start, ${r.heapMb.baseline.join(' / ')} at the baseline, ${r.heapMb.peak} committed at most, ${r.heapMb.after.join(' / ')} after.`,
    '',
    '| t (s) | RSS (MB) | heap committed / used (MB) | queue | admitted |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...series.map((s) => `| ${s.t} | ${s.mb} | ${s.heapMb} / ${s.heapUsedMb} | ${s.queue} | ${s.inProgress} |`),
    '',
    `Targets: ${Object.entries(r.targets)
      .map(([k, v]) => `${k} ${v ? 'met' : '**missed**'}`)
      .join(', ')}.${c.firstProblem ? ` First problem seen: ${c.firstProblem}.` : ''}`,
    '',
    'Run: `npx tsc -p bench && node dist/bench/overload-soak.js [--model DIR] [--soak-s 150] [--overload 5] [--texts 8] [--server-args "..."] [--server-env "NAME=value"] [--out NAME]` (default model: a MiniLM-shaped BERT, bench/models/mid-bert.ts).',
    '',
  ].join('\n');
}

await main();
