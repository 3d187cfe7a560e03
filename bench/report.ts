/** Result shapes of a benchmark run and their markdown rendering. */
import type { RawResult } from './anchors/raw-session.js';
import type { TjsResult } from './anchors/transformers-js.js';
import type { LoadResult } from './load.js';
import type { ProfileSummary } from './profile.js';

/** What the server said about itself over one phase (from /metrics, differenced). */
export interface ServerStats {
  batches: number;
  meanBatchSize: number;
  /** Share of the phase's wall time the model worker spent in model calls. */
  modelBusy: number;
  eventLoopLagP99Ms: number | null;
  eventLoopLagMaxMs: number | null;
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
  grpc: Skippable<ServedRun[]>;
  ceiling: Skippable<RawResult>;
  transformersJs: TjsResult;
  costs: MainThreadCosts;
  profile: Skippable<ProfileSummary> | null;
  targets: Targets | null;
}

export interface Targets {
  concurrency: number;
  servedTextsPerS: number;
  ceilingTextsPerS: number | null;
  ceilingBatchSize: number | null;
  vsCeiling: number | null;
  tjsTextsPerS: number | null;
  vsTransformersJs: number | null;
  meetsCeilingTarget: boolean | null;
  meetsTransformersJsTarget: boolean | null;
}

export interface BenchReport {
  meta: Record<string, unknown>;
  models: ModelReport[];
}

export const CEILING_TARGET = 0.85;
export const TJS_TARGET = 1.5;

const isSkipped = (v: unknown): v is { skipped: string } => typeof v === 'object' && v !== null && 'skipped' in v;

export function computeTargets(m: Omit<ModelReport, 'targets'>): Targets | null {
  if (isSkipped(m.http) || m.http.length === 0) return null;
  const top = m.http.reduce((a, b) => (b.concurrency > a.concurrency ? b : a));
  const best = isSkipped(m.ceiling) ? null : m.ceiling.results.reduce((a, b) => (b.textsPerS > a.textsPerS ? b : a));
  const tjs = isSkipped(m.transformersJs) ? null : m.transformersJs.runs.find((r) => r.concurrency === top.concurrency) ?? null;
  const vsCeiling = best ? top.textsPerS / best.textsPerS : null;
  const vsTjs = tjs && tjs.textsPerS > 0 ? top.textsPerS / tjs.textsPerS : null;
  return {
    concurrency: top.concurrency,
    servedTextsPerS: top.textsPerS,
    ceilingTextsPerS: best?.textsPerS ?? null,
    ceilingBatchSize: best?.batchSize ?? null,
    vsCeiling,
    tjsTextsPerS: tjs?.textsPerS ?? null,
    vsTransformersJs: vsTjs,
    meetsCeilingTarget: vsCeiling === null ? null : vsCeiling >= CEILING_TARGET,
    meetsTransformersJsTarget: vsTjs === null ? null : vsTjs >= TJS_TARGET,
  };
}

const f0 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));
const f1 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(1));
const f2 = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));
const pct = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : `${Math.round(n * 100)}%`);

function servedRows(label: string, runs: Skippable<ServedRun[]>): string[] {
  if (isSkipped(runs)) return [`| ${label} | – | skipped: ${runs.skipped} | | | | | | | | |`];
  return runs.map(
    (r) =>
      `| ${label} | ${r.concurrency} | ${f0(r.textsPerS)} | ${f0(r.tokensPerS)} | ${f0(r.requestsPerS)} | ${f1(r.latencyMs.p50)} | ${f1(r.latencyMs.p99)} | ` +
      `${f1(r.server?.meanBatchSize)} | ${pct(r.server?.modelBusy)} | ${f1(r.server?.eventLoopLagP99Ms)} / ${f1(r.server?.eventLoopLagMaxMs)} | ${r.errors}${r.firstError ? ` (${r.firstError.slice(0, 60)})` : ''} |`,
  );
}

export function modelMarkdown(m: ModelReport): string {
  const lines = [
    `### ${m.name}`,
    '',
    `\`${m.dir}\` · ${m.dimensions ?? '?'} dims · max ${m.maxLength} tokens · ${f1(m.meanTokensPerText)} tokens/text on average`,
    '',
    '| path | clients | texts/s | tokens/s | req/s | p50 ms | p99 ms | batch mean | model busy | loop lag p99/max ms | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...servedRows('Coalesce HTTP /embed', m.http),
    ...servedRows('Coalesce gRPC', m.grpc),
  ];
  if (isSkipped(m.transformersJs)) lines.push(`| transformers.js pipeline | – | skipped: ${m.transformersJs.skipped} | | | | | | | | |`);
  else {
    for (const r of m.transformersJs.runs) {
      lines.push(`| transformers.js ${m.transformersJs.version} pipeline | ${r.concurrency} | ${f0(r.textsPerS)} | ${f0(r.tokensPerS)} | ${f0(r.requestsPerS)} | ${f1(r.latencyMs.p50)} | ${f1(r.latencyMs.p99)} | – | – | – | ${r.errors} |`);
    }
  }
  if (isSkipped(m.ceiling)) lines.push(`| raw ORT session (ceiling) | – | skipped: ${m.ceiling.skipped} | | | | | | | | |`);
  else {
    for (const r of m.ceiling.results) {
      lines.push(`| raw ORT ${m.ceiling.ortVersion} session, sorted batches of ${r.batchSize} | – | ${f0(r.textsPerS)} | ${f0(r.tokensPerS)} | – | ${f1(r.msPerBatch)}/batch | – | ${r.batchSize} | 100% | padding eff. ${pct(r.paddingEfficiency)} | 0 |`);
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
      lines.push('', `Server main thread under ${p.concurrency} clients (--cpu-prof, ${f1(p.durationS)} s, busy ${pct(p.busy)}): ` +
        p.categories.map((cat) => `${cat.name} ${pct(cat.share)}`).join(', ') + '.');
      if (p.workerBusy !== null) lines.push(`Model worker thread busy ${pct(p.workerBusy)} of the same interval.`);
    }
  }
  if (m.targets) {
    const t = m.targets;
    lines.push(
      '',
      `**Targets at ${t.concurrency} clients:** served ${f0(t.servedTextsPerS)} texts/s = ${f2(t.vsCeiling)} × the raw-session ceiling ` +
        `(${f0(t.ceilingTextsPerS)}, batches of ${t.ceilingBatchSize ?? '–'}; target ≥ ${CEILING_TARGET}: ${verdict(t.meetsCeilingTarget)}) and ` +
        `${f2(t.vsTransformersJs)} × transformers.js (${f0(t.tjsTextsPerS)}; target ≥ ${TJS_TARGET}: ${verdict(t.meetsTransformersJsTarget)}).`,
    );
  }
  return lines.join('\n');
}

function verdict(v: boolean | null): string {
  return v === null ? 'not measured' : v ? 'met' : 'missed';
}

export function reportMarkdown(report: BenchReport): string {
  const meta = report.meta;
  return [
    '# Coalesce CPU benchmark',
    '',
    `${meta.date} · node ${meta.node} · ${meta.cpus} × ${meta.cpuModel} · load average at start ${meta.loadAverage} · ` +
      `workload seed ${meta.seed}, ${meta.requests} requests (${meta.singleShare} one text, the rest 2–8), ` +
      `${meta.durationS} s per phase after ≥ ${meta.warmupS} s warm-up · intra-op threads ${meta.intraOpThreads || 'default'}`,
    '',
    'Served paths run against one child server process (the load generator is this process); transformers.js runs in its own process ' +
      'with the load generator in-process; the raw session runs in its own process on pre-formed, pre-tokenized batches and times only ' +
      'session.run + pooling. "model busy" is the share of wall time the server\'s model worker spent in model calls; ' +
      '"loop lag" is the server main thread\'s event-loop delay over the phase.',
    '',
    ...report.models.flatMap((m) => [modelMarkdown(m), '']),
  ].join('\n');
}
