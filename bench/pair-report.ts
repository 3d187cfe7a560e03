/** Result shape and markdown of multi-device.ts's two-model part: closed loops, paced loads, and where the model time went. */
import type { LoadResult } from './load.js';
import type { ModelTime, PhaseTime } from './model-time.js';
import { LATE_LIMIT_MS, type PacedResult } from './paced-load.js';

/** Each model's phases: alone (its own window), and both loaded at once. */
export interface PairTime {
  aAlone: PhaseTime | null;
  bAlone: PhaseTime | null;
  together: PhaseTime | null;
}

export interface PacedRun {
  /** Each model's offered rate as a share of its alone closed-loop texts/s. */
  share: number;
  aAlone: PacedResult;
  bAlone: PacedResult;
  aTogether: PacedResult;
  bTogether: PacedResult;
  time: PairTime;
}

export interface PairRun {
  aAlone: LoadResult;
  bAlone: LoadResult;
  aTogether: LoadResult;
  bTogether: LoadResult;
  models: unknown;
  /** Closed loops; the together window is where both loops' windows overlap. */
  time: PairTime;
  paced: PacedRun[];
}

export interface PairContext {
  a: string;
  b: string;
  device: string;
  clientsPerModel: number;
  durationS: number;
  warmupS: number;
  /** The together / alone throughput the issue asks each model to keep where the GPU is not saturated. */
  target: number;
}

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const pct = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : `${Math.round(n * 100)} %`);
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

function timeRow(phase: string, model: string, textsPerS: number, t: PhaseTime | null): string {
  const m: ModelTime | undefined = t?.models[model];
  if (!t || !m) return row([phase, model, fmt(textsPerS), 'no samples', '', '', '', '', '', '', '']);
  const source = m.source === 'coalesce_batch_session_duration' ? '' : ' (call time)';
  return row([
    phase,
    model,
    fmt(textsPerS),
    pct(m.busyShare) + source,
    `${fmt(m.sessionsInFlight, 2)} / ${m.sessions}`,
    fmt(m.callsPerS),
    fmt(m.meanBatchSize, 1),
    fmt(m.sessionMsPerCall, 2),
    fmt(m.callMs, 2),
    fmt(m.queueMs, 2),
    pct(t.gpuUtilization),
  ]);
}

function timeTable(rows: string[]): string[] {
  return [
    row([
      'phase',
      'model',
      'texts/s',
      'sessions busy',
      'in a call / sessions',
      'calls/s',
      'mean batch',
      'session ms / call',
      'call ms',
      'queue ms',
      'GPU busy',
    ]),
    row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...rows,
  ];
}

/** "a 38 %, b 41 % (GPU 87 %)" for a phase. */
function busyLine(t: PhaseTime | null, models: string[]): string {
  if (!t) return 'no samples';
  const gpu = t.gpuUtilization === null ? '' : ` (GPU ${pct(t.gpuUtilization)})`;
  return models.map((m) => `${m} ${pct(t.models[m]?.busyShare)}`).join(', ') + gpu;
}

function summary(time: PairTime): string {
  return `Sessions busy together: ${busyLine(time.together, ['a', 'b'])}; alone: ${busyLine(time.aAlone, ['a'])}, ${busyLine(time.bAlone, ['b'])}.`;
}

const TIME_NOTE =
  "Where the time went: *sessions busy* is the share of the window a model's session threads spent in model calls " +
  '(its `coalesce_batch_session_duration` from /metrics, summed over its sessions, / window / its sessions); *in a call* is how many of its ' +
  'sessions were in a call at once on average. *Session ms / call* is a call as its session thread timed it, *call ms* as the main thread ' +
  "did (the answer's wait for the event loop included), *queue ms* a request's mean wait for a model call. *GPU busy*: nvidia-smi " +
  'utilization.gpu averaged over the window (the share of time some kernel ran; – without a GPU). On one GPU a session in a call ' +
  "also waits while the other model's kernels run, so the two models' busy shares can add up to more than the GPU executed: " +
  "compare them with GPU busy. Each phase's figures come from /metrics samples 250 ms apart inside its window.";

export function pairMarkdown(p: PairRun, c: PairContext): string[] {
  const lines = [
    '',
    `## Two models in one process (--device ${c.device}): a = ${c.a}, b = ${c.b}`,
    '',
    `W2 with ${c.clientsPerModel} clients per model, each model alone and then both at once.`,
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
    '',
    `### Where the time went (closed loops)`,
    '',
    summary(p.time),
    '',
    ...timeTable([
      timeRow('a alone', 'a', p.aAlone.textsPerS, p.time.aAlone),
      timeRow('b alone', 'b', p.bAlone.textsPerS, p.time.bAlone),
      timeRow('together', 'a', p.aTogether.textsPerS, p.time.together),
      timeRow('together', 'b', p.bTogether.textsPerS, p.time.together),
    ]),
    '',
    TIME_NOTE,
  ];
  for (const r of p.paced) lines.push(...pacedMarkdown(r, c));
  return lines;
}

function pacedMarkdown(r: PacedRun, c: PairContext): string[] {
  const pair = [
    ['a', r.aAlone, r.aTogether],
    ['b', r.bAlone, r.bTogether],
  ] as const;
  const latencies = (x: PacedResult) => `${fmt(x.latencyMs.p50, 1)} / ${fmt(x.latencyMs.p99, 1)}`;
  const late = (x: PacedResult) => `${fmt(x.generatorLatenessMs.p99, 2)}${x.generatorLimited ? '*' : ''}`;
  const limited = [r.aAlone, r.bAlone, r.aTogether, r.bTogether].some((x) => x.generatorLimited);
  return [
    '',
    `## Paced: each model at ${fmt(r.share * 100)} % of its alone closed-loop texts/s`,
    '',
    `Open loop: Poisson arrivals at a fixed rate per model, one text per request (the W2 texts, POST /models/<name>/embed), from ` +
      `open-loop-generator.ts processes; each model alone, then both at once with the same arrivals; ${c.durationS} s windows after ` +
      `${c.warmupS} s at the rate. Latency counts from each request's scheduled arrival; lateness is how long after its scheduled time ` +
      `the generator wrote each request. *Answered / arrived*: answers in the window over arrivals in it; well below 1 (or errors, or a p99 far above alone's): the device or the ` +
      `machine was saturated at this load, and the ratio says nothing about sharing below saturation.`,
    '',
    row([
      'model',
      'offered/s',
      'alone texts/s',
      'together texts/s',
      'together / alone',
      `>= ${c.target}`,
      'together answered / arrived',
      'alone p50 / p99 ms',
      'together p50 / p99 ms',
      'errors alone / together',
      'lateness p99 ms alone / together',
    ]),
    row(['---', '---:', '---:', '---:', '---:', '---', '---:', '---:', '---:', '---:', '---:']),
    ...pair.map(([name, alone, together]) => {
      const ratio = together.achievedRate / alone.achievedRate;
      return row([
        name,
        fmt(alone.offeredRate),
        fmt(alone.achievedRate),
        fmt(together.achievedRate),
        fmt(ratio, 2),
        ratio >= c.target ? 'yes' : '**no**',
        fmt((together.achievedRate * c.durationS) / together.scheduled, 2),
        latencies(alone),
        latencies(together),
        `${alone.errors} / ${together.errors}`,
        `${late(alone)} / ${late(together)}`,
      ]);
    }),
    ...(limited ? ['', `\\* lateness p99 above ${LATE_LIMIT_MS} ms: the generator may have set the pace there, not the server.`] : []),
    '',
    summary(r.time),
    '',
    ...timeTable([
      timeRow('a alone', 'a', r.aAlone.achievedRate, r.time.aAlone),
      timeRow('b alone', 'b', r.bAlone.achievedRate, r.time.bAlone),
      timeRow('together', 'a', r.aTogether.achievedRate, r.time.together),
      timeRow('together', 'b', r.bTogether.achievedRate, r.time.together),
    ]),
  ];
}
