/**
 * Where the server's main thread spends its time: a V8 .cpuprofile (node --cpu-prof) reduced to
 * categories. Builtins (JSON.parse, toPrecision, Array.join, ...) have no script URL, so their
 * samples go to the nearest caller that has one: toPrecision inside vectorToJson counts as JSON
 * encoding, a tokenizer's regex as tokenization.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  concurrency: number;
  durationS: number;
  /** Non-idle share of the main thread's profiled time. */
  busy: number;
  /** Shares of the profiled wall time, largest first (idle left out). */
  categories: { name: string; share: number }[];
  /** Non-idle share of the model worker thread, when its profile was found. */
  workerBusy: number | null;
}

/** Ordered: the first rule whose pattern matches a frame's URL names its category. */
const RULES: [string, RegExp][] = [
  ['tokenization', /@huggingface\/tokenizers|\/preprocess\/tokenizer/],
  ['JSON encode (vectors)', /\/transport\/http\/(encode|float-json)\.js/],
  ['request parsing', /\/transport\/http\/parse\.js/],
  ['gRPC transport', /@grpc\/|protobufjs|\/transport\/grpc\//],
  ['hono + node-server', /node_modules\/(hono|@hono)\//],
  ['batcher + embedder', /\/src\/core\//],
  ['model proxy (pack/unpack)', /\/src\/backend\//],
  ['metrics', /\/src\/metrics\.js/],
  ['other server code', /\/dist\/src\//],
  // @hono/node-server builds a WHATWG Request (undici) with a web ReadableStream body and an
  // AbortSignal when a route reads c.req.text() or c.req.raw.signal.
  ['web Request + streams (fetch API)', /^node:internal\/(deps\/undici|webstreams|abort_controller|event_target|worker\/js_transferable|blob)/],
  ['node http/net/streams', /^node:/],
];

function categoryOf(node: CpuProfileNode, parent: Map<number, CpuProfileNode>): string {
  const fn = node.callFrame.functionName;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'V8/native (program)';
  for (let n: CpuProfileNode | undefined = node; n; n = parent.get(n.id)) {
    const url = n.callFrame.url;
    if (!url) continue;
    for (const [name, re] of RULES) if (re.test(url)) return name;
    return 'other JS';
  }
  return 'native, no JS caller';
}

/** Samples inside [fromUs, toUs] (V8 profile timestamps are CLOCK_MONOTONIC µs, like process.hrtime). */
function summarize(profile: CpuProfile, fromUs: number, toUs: number): { total: number; byCategory: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, CpuProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const categoryCache = new Map<number, string>();
  const byCategory = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < fromUs || at > toUs) return;
    total += dt;
    let cat = categoryCache.get(id);
    if (cat === undefined) {
      cat = categoryOf(byId.get(id)!, parent);
      categoryCache.set(id, cat);
    }
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + dt);
  });
  return { total, byCategory };
}

/**
 * Reads the profiles node wrote into `dir`, keeping the samples of the load window: the main
 * thread's profile is the one that ran the HTTP transport; the model worker's ran the session worker.
 */
export function summarizeProfiles(dir: string, concurrency: number, windowUs: [number, number]): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  const profiles = files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile);
  const has = (p: CpuProfile, re: RegExp) => p.nodes.some((n) => re.test(n.callFrame.url));
  const main = profiles.find((p) => has(p, /\/transport\/http\//));
  if (!main) throw new Error('the main thread profile was not found');
  const worker = profiles.find((p) => has(p, /session-worker\.js/));
  const { total, byCategory } = summarize(main, ...windowUs);
  if (total === 0) throw new Error('the main thread profile has no samples inside the load window');
  const idle = byCategory.get('idle') ?? 0;
  const categories = [...byCategory.entries()]
    .filter(([name]) => name !== 'idle')
    .map(([name, t]) => ({ name, share: t / total }))
    .sort((a, b) => b.share - a.share);
  let workerBusy: number | null = null;
  if (worker) {
    const w = summarize(worker, ...windowUs);
    workerBusy = w.total > 0 ? 1 - (w.byCategory.get('idle') ?? 0) / w.total : null;
  }
  return { concurrency, durationS: total / 1e6, busy: 1 - idle / total, categories, workerBusy };
}
