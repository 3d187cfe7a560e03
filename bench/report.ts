/** Result shapes of a benchmark run and their markdown rendering. */
import type { RawBatchResult, RawResult } from './anchors/raw-session.js';
import type { TjsResult } from './anchors/transformers-js.js';
import type { LoadResult } from './load.js';
import type { CpuShares } from './cpu-usage.js';
import type { ProfileSummary } from './profile.js';

/** What the server said about itself over one phase (from /metrics, differenced). */
export interface ServerStats {
  batches: number;
  meanBatchSize: number;
  /** Real tokens / padded tokens of the model calls (null when the server does not export them). */
  paddingEfficiency: number | null;
  /** Share of the phase's wall time the model worker spent in model calls. */
  modelBusy: number;
  eventLoopLagP99Ms: number | null;
  eventLoopLagMaxMs: number | null;
  /** The same, of an idle Node process on the machine meanwhile: the share the machine's load explains. */
  idleProcessLagP99Ms?: number;
  idleProcessLagMaxMs?: number;
}

export interface ServedRun extends LoadResult {
  server: ServerStats | null;
  /** Main-thread CPU share estimated from the measured per-text costs (see MainThreadCosts). */
  estimatedMainThread: { tokenize: number; jsonEncode: number; jsonParse: number } | null;
}

export interface MainThreadCosts {
  tokenizeUsPerText: number;
  jsonEncodeUsPerText: number;
  jsonParseUsPerRequest: number;
}

export type Skippable<T> = T | { skipped: string };

export interface ModelReport {
  name: string;
  dir: string;
  dimensions: number | null;
  maxLength: number;
  meanTokensPerText: number;
  http: Skippable<ServedRun[]>;
  /** tei.v1.Embed: one call per text. */
  grpc: Skippable<ServedRun[]>;
  /** coalesce.v1.EmbedBatch: one call per request. */
  grpcBatch: Skippable<ServedRun[]>;
  ceiling: Skippable<RawResult>;
  transformersJs: TjsResult;
  costs: MainThreadCosts;
  profile: Skippable<ProfileSummary> | null;
  targets: Targets | null;
  /** Every phase of every round (the tables show the best round of each). */
  rounds: { http: ServedRun[][]; grpc: ServedRun[][]; grpcBatch: ServedRun[][]; transformersJs: LoadResult[][]; ceiling: RawBatchResult[][] };
}

/** A ratio measured once per round (phases of one round ran within a minute or two), and its median. */
export interface Ratio {
  /** Median over the clean rounds, or over all when none was clean. */
  median: number;
  byRound: number[];
  /** Per round: whether the rest of the machine stayed under QUIET_CORES in every phase of the ratio. */
  clean: boolean[];
}

/** A phase during which the rest of the shared machine used more cores than this is not clean. */
export const QUIET_CORES = 0.3;

export interface Targets {
  concurrency: number;
  /** Texts/s, served / ceiling (the best raw configuration of the same round). */
  vsCeiling: Ratio | null;
  vsTransformersJs: Ratio | null;
  /**
   * Texts per CPU-second of the process doing the work (the server; the raw-session process; the
   * transformers.js process), served / other. Other people's load on the shared cores changes
   * how many cores a phase gets far more than what each text costs, so this is the steadier ratio.
   */
  vsCeilingPerCpu: Ratio | null;
  vsTransformersJsPerCpu: Ratio | null;
  meetsCeilingTarget: { throughput: boolean; perCpu: boolean } | null;
  meetsTransformersJsTarget: { throughput: boolean; perCpu: boolean } | null;
}

export interface BenchReport {
  meta: Record<string, unknown>;
  models: ModelReport[];
}

export const CEILING_TARGET = 0.85;
export const TJS_TARGET = 1.5;

const isSkipped = (v: unknown): v is { skipped: string } => typeof v === 'object' && v !== null && 'skipped' in v;

const median = (xs: number[]) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

function ratio(byRound: number[], clean: boolean[]): Ratio | null {
  if (!byRound.some(Number.isFinite)) return null;
  const kept = byRound.filter((_, i) => clean[i]);
  return { median: median(kept.some(Number.isFinite) ? kept : byRound), byRound, clean };
}

const quiet = (r: { cpu?: CpuShares } | undefined) => r?.cpu !== undefined && r.cpu.othersCores <= QUIET_CORES;

/** Texts per CPU-second of one process of a phase. */
const perCpu = (r: { textsPerS: number; cpu?: CpuShares }, who: string) => r.textsPerS / (r.cpu?.cores[who] ?? NaN);

/**
 * Targets at the top concurrency. `ceiling` holds one list of rounds per raw configuration;
 * round i of every path ran in the same round.
 */
export function computeTargets(concurrency: number, served: LoadResult[], ceiling: RawBatchResult[][], tjs: LoadResult[]): Targets | null {
  if (served.length === 0) return null;
  const bestRaw = (i: number, score: (r: RawBatchResult) => number) =>
    Math.max(...ceiling.map((rounds) => (rounds[i] ? score(rounds[i]) : NaN)).filter(Number.isFinite));
  const rawQuiet = served.map((s, i) => quiet(s) && ceiling.every((rounds) => quiet(rounds[i])));
  const tjsQuiet = served.map((s, i) => quiet(s) && quiet(tjs[i]));
  const vsCeiling = ceiling.length
    ? ratio(
        served.map((s, i) => s.textsPerS / bestRaw(i, (r) => r.textsPerS)),
        rawQuiet,
      )
    : null;
  const vsCeilingPerCpu = ceiling.length
    ? ratio(
        served.map((s, i) => perCpu(s, 'server') / bestRaw(i, (r) => perCpu(r, 'ort'))),
        rawQuiet,
      )
    : null;
  const vsTjs = tjs.length
    ? ratio(
        served.map((s, i) => s.textsPerS / (tjs[i]?.textsPerS ?? NaN)),
        tjsQuiet,
      )
    : null;
  const vsTjsPerCpu = tjs.length
    ? ratio(
        served.map((s, i) => perCpu(s, 'server') / (tjs[i] ? perCpu(tjs[i], 'transformers.js') : NaN)),
        tjsQuiet,
      )
    : null;
  const verdict = (a: Ratio | null, b: Ratio | null, target: number) => (a && b ? { throughput: a.median >= target, perCpu: b.median >= target } : null);
  return {
    concurrency,
    vsCeiling,
    vsTransformersJs: vsTjs,
    vsCeilingPerCpu,
    vsTransformersJsPerCpu: vsTjsPerCpu,
    meetsCeilingTarget: verdict(vsCeiling, vsCeilingPerCpu, CEILING_TARGET),
    meetsTransformersJsTarget: verdict(vsTjs, vsTjsPerCpu, TJS_TARGET),
  };
}

const f0 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));
const f1 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(1));
const f2 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));
const pct = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : `${Math.round(n * 100)}%`);

/** "server 1.10 (main thread 0.60) + client 0.52 · others 0.30": cores each process used, and the rest of the machine. */
function cores(cpu: CpuShares | undefined): string {
  if (!cpu) return '–';
  const main = (name: string) => (name === 'server' ? ` (main thread ${f2(cpu.mainThreadCores?.[name])})` : '');
  return (
    Object.entries(cpu.cores)
      .map(([name, c]) => `${name} ${f2(c)}${main(name)}`)
      .join(' + ') + ` · others ${f2(cpu.othersCores)}`
  );
}

/** CPU time per text of the process that does the work (the server, not the load generator). */
function cpuPerText(cpu: CpuShares | undefined, who: string, textsPerS: number): string {
  const c = cpu?.cores[who];
  return c === undefined || !Number.isFinite(c) || textsPerS <= 0 ? '–' : f0((c * 1e6) / textsPerS);
}

function servedRows(label: string, runs: Skippable<ServedRun[]>): string[] {
  if (isSkipped(runs)) return [`| ${label} | – | skipped: ${runs.skipped} | | | | | | | | | | |`];
  return runs.map(
    (r) =>
      `| ${label} | ${r.concurrency} | ${f0(r.textsPerS)} | ${f0(r.tokensPerS)} | ${f0(r.requestsPerS)} | ${f1(r.latencyMs.p50)} | ${f1(r.latencyMs.p99)} | ` +
      `${f1(r.server?.meanBatchSize)}${r.server?.paddingEfficiency != null ? ` (${pct(r.server.paddingEfficiency)})` : ''} | ${pct(r.server?.modelBusy)} | ${f1(r.server?.eventLoopLagP99Ms)} / ${f1(r.server?.eventLoopLagMaxMs)} (idle ${f1(r.server?.idleProcessLagP99Ms)} / ${f1(r.server?.idleProcessLagMaxMs)}) | ` +
      `${cores(r.cpu)} | ${cpuPerText(r.cpu, 'server', r.textsPerS)} | ${r.errors}${r.firstError ? ` (${r.firstError.slice(0, 60)})` : ''} |`,
  );
}

export function modelMarkdown(m: ModelReport): string {
  const lines = [
    `### ${m.name}`,
    '',
    `\`${m.dir}\` · ${m.dimensions ?? '?'} dims · max ${m.maxLength} tokens · ${f1(m.meanTokensPerText)} tokens/text on average`,
    '',
    '| path | clients | texts/s | tokens/s | req/s | p50 ms | p99 ms | batch mean (padding eff.) | model busy | loop lag p99/max ms | cores used | CPU µs/text | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
    ...servedRows('Coalesce HTTP /embed', m.http),
    ...servedRows('Coalesce gRPC tei.v1.Embed (a call per text)', m.grpc),
    ...servedRows('Coalesce gRPC coalesce.v1.EmbedBatch', m.grpcBatch),
  ];
  if (isSkipped(m.transformersJs)) lines.push(`| transformers.js pipeline | – | skipped: ${m.transformersJs.skipped} | | | | | | | | | | |`);
  else {
    for (const r of m.transformersJs.runs) {
      lines.push(
        `| transformers.js ${m.transformersJs.version} pipeline | ${r.concurrency} | ${f0(r.textsPerS)} | ${f0(r.tokensPerS)} | ${f0(r.requestsPerS)} | ${f1(r.latencyMs.p50)} | ${f1(r.latencyMs.p99)} | – | – | – | ${cores(r.cpu)} | ${cpuPerText(r.cpu, 'transformers.js', r.textsPerS)} | ${r.errors} |`,
      );
    }
  }
  if (isSkipped(m.ceiling)) lines.push(`| raw ORT session (ceiling) | – | skipped: ${m.ceiling.skipped} | | | | | | | | | | |`);
  else {
    for (const r of m.ceiling.results) {
      lines.push(
        `| raw ORT ${m.ceiling.ortVersion} session, sorted batches of ${r.batchSize}${r.spinning ? ', pool spinning' : ''} | – | ${f0(r.textsPerS)} | ${f0(r.tokensPerS)} | – | ${f1(r.msPerBatch)}/batch | – | ${r.batchSize} (${pct(r.paddingEfficiency)}) | 100% | – | ${cores(r.cpu)} | ${cpuPerText(r.cpu, 'ort', r.textsPerS)} | 0 |`,
      );
    }
  }
  const c = m.costs;
  lines.push(
    '',
    `Main-thread costs, measured in-process on this workload: tokenize ${f1(c.tokenizeUsPerText)} µs/text, ` +
      `JSON-encode the response ${f1(c.jsonEncodeUsPerText)} µs/text, JSON-parse the request ${f1(c.jsonParseUsPerRequest)} µs/request.`,
  );
  if (!isSkipped(m.http)) {
    const top = m.http[m.http.length - 1];
    if (top.estimatedMainThread) {
      const e = top.estimatedMainThread;
      lines.push(
        `At ${top.concurrency} clients that is ${pct(e.tokenize)} of one core tokenizing, ${pct(e.jsonEncode)} JSON-encoding, ${pct(e.jsonParse)} JSON-parsing.`,
      );
    }
  }
  if (m.profile) {
    if (isSkipped(m.profile)) lines.push('', `CPU profile: skipped (${m.profile.skipped}).`);
    else {
      const p = m.profile;
      lines.push(
        '',
        `Server main thread under ${p.concurrency} clients (--cpu-prof, ${f1(p.durationS)} s, busy ${pct(p.busy)}): ` +
          p.categories.map((cat) => `${cat.name} ${pct(cat.share)}`).join(', ') +
          '.',
      );
      if (p.workerBusy !== null) lines.push(`Model worker thread busy ${pct(p.workerBusy)} of the same interval.`);
    }
  }
  if (m.targets) {
    const t = m.targets;
    const r = (x: Ratio | null) => (x ? `${f2(x.median)} (rounds: ${x.byRound.map((v, i) => (x.clean[i] ? f2(v) : `${f2(v)} not clean`)).join(', ')})` : '–');
    lines.push(
      '',
      `**Targets at ${t.concurrency} clients** (medians of per-round ratios; a round is "not clean" when the rest of the machine used ` +
        `more than ${QUIET_CORES} cores in one of its phases, and left out of the median if another round was clean): ` +
        `served / raw-session ceiling ${r(t.vsCeiling)} in texts/s, ${r(t.vsCeilingPerCpu)} in texts per CPU-second ` +
        `(target ≥ ${CEILING_TARGET}: ${verdict(t.meetsCeilingTarget)}); ` +
        `served / transformers.js ${r(t.vsTransformersJs)} in texts/s, ${r(t.vsTransformersJsPerCpu)} in texts per CPU-second ` +
        `(target ≥ ${TJS_TARGET}: ${verdict(t.meetsTransformersJsTarget)}).`,
    );
  }
  return lines.join('\n');
}

function verdict(v: { throughput: boolean; perCpu: boolean } | null): string {
  if (v === null) return 'not measured';
  const word = (b: boolean) => (b ? 'met' : 'missed');
  return v.throughput === v.perCpu ? word(v.perCpu) : `${word(v.throughput)} in texts/s, ${word(v.perCpu)} per CPU-second`;
}

export function reportMarkdown(report: BenchReport): string {
  const meta = report.meta;
  return [
    '# Coalesce CPU benchmark',
    '',
    `${meta.date} · node ${meta.node} · ${meta.cpus} × ${meta.cpuModel} · load average at start ${meta.loadAverage} · ` +
      `workload seed ${meta.seed}, ${meta.requests} requests (${meta.singleShare} one text, the rest 2–8), ` +
      `${meta.durationS} s per phase (longer for slow models: ≥ 3 × the p90 warm-up latency) after ≥ ${meta.warmupS} s warm-up and one answer per client, ` +
      `${meta.rounds} interleaved round(s), best round shown (gRPC: round 1 only) · ` +
      `intra-op threads ${meta.intraOpThreads || 'default'}${(meta.serverArgs as string[]).length ? ` · server args ${(meta.serverArgs as string[]).join(' ')}` : ''}`,
    '',
    'Served paths run against one child server process (the load generator is this process); transformers.js runs in its own process ' +
      'with the load generator in-process; the raw session runs in its own process on pre-formed, pre-tokenized batches and times only ' +
      'session.run + pooling. "model busy" is the share of wall time the server\'s model worker spent in model calls; ' +
      '"loop lag" is the server main thread\'s event-loop delay over the phase (in brackets: an idle Node process\'s meanwhile, ' +
      'i.e. what the machine\'s load alone causes); "cores used" is CPU time / wall time per process over the phase, ' +
      'and "others" what the rest of the (shared) machine used meanwhile; "CPU µs/text" is the CPU time of the process doing the work ' +
      '(the server, not the load generator) per text, which other load on the machine hardly changes.',
    '',
    ...report.models.flatMap((m) => [modelMarkdown(m), '']),
  ].join('\n');
}
