/**
 * Where one short text's time goes (W3: one client, one text per request), hop by hop, next to
 * what ONNX Runtime alone costs for the same input.
 *
 *  1. ORT alone, in this thread: the served graph (pooling appended, as the server builds it) with
 *     the server's session options, timed around session.run; then one change at a time (one
 *     intra-op thread, pool threads spinning, the file as it is without the pooling head), the
 *     same text padded to longer sequences (fixed cost against per-token cost), a one-node graph
 *     (what a run costs the binding and the provider with no model at all) and ONNX Runtime's
 *     profiler (nodes per provider, the time its executor spends per node).
 *  2. Served over HTTP by one closed-loop client in its own process: client latency, and the
 *     server's own histograms (request, tokenization, queue, inference, session thread) over the
 *     same window, which split the request into hops.
 *
 *   node dist/bench/gpu/latency-breakdown.js --model DIR [--onnx-file model_fp16.onnx] [--device cuda]
 *     [--runs 2000] [--seconds 20] [--out bench/results] [--name latency-breakdown-gpu] [--commit sha]
 *     [--text "..."] (when the model folder has no texts.json) [--served-only]
 *     [-- <server flags>]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { flagValue } from '../args.js';
import { percentile } from '../load.js';
import { ownArgs, passThroughArgs, runMeta } from '../run-meta.js';
import { startServer } from '../server-process.js';
import { runLoadPhase, histogramMean } from './load-phase.js';
import { readManifest } from '../../src/model-prep/manifest.js';
import { HfTokenizer } from '../../src/preprocess/tokenizer.js';
import { prepareServingGraph } from '../../src/onnx-graph/serving-graph.js';
import { sessionOptions } from '../../src/backend/ort/worker-common.js';
import { resolveIntraOpThreads } from '../../src/settings.js';
import { DataType, encodeModel, makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx-graph/onnx-proto.js';

const argv = ownArgs();
const flag = (name: string, fallback: string) => flagValue(name, fallback, argv);
const MODEL = flag('model', '/tmp/bench-bert-base');
const ONNX_FILE = flag('onnx-file', 'model_fp16.onnx');
const DEVICE = flag('device', 'cuda');
const RUNS = Number(flag('runs', '2000'));
const SECONDS = Number(flag('seconds', '20'));
const OUT = flag('out', 'bench/results');
const NAME = flag('name', `latency-breakdown-${DEVICE.startsWith('cuda') ? 'gpu' : 'cpu'}`);
const ON_CUDA = DEVICE.startsWith('cuda');
const EPS: ort.InferenceSession.ExecutionProviderConfig[] = ON_CUDA ? [{ name: 'cuda', deviceId: Number(DEVICE.split(':')[1] ?? 0) }] : ['cpu'];

interface Timing {
  p50Ms: number;
  p99Ms: number;
  minMs: number;
  meanMs: number;
}

function summarize(ms: number[]): Timing {
  const s = [...ms].sort((a, b) => a - b);
  return { p50Ms: percentile(s, 50), p99Ms: percentile(s, 99), minMs: s[0], meanMs: s.reduce((a, b) => a + b, 0) / s.length };
}

function feeds(session: ort.InferenceSession, ids: number[], seq: number): Record<string, ort.Tensor> {
  const input = new BigInt64Array(seq);
  const mask = new BigInt64Array(seq);
  ids.forEach((id, i) => ((input[i] = BigInt(id)), (mask[i] = 1n)));
  const all: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', input, [1, seq]),
    attention_mask: new ort.Tensor('int64', mask, [1, seq]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(seq), [1, seq]),
  };
  return Object.fromEntries(session.inputNames.map((n) => [n, all[n]]));
}

/** session.run timed one call after another, after a warm-up. */
async function timeRuns(session: ort.InferenceSession, input: Record<string, ort.Tensor>, fetch: readonly string[], runs: number): Promise<Timing> {
  for (let i = 0; i < 200; i++) await session.run(input, fetch);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await session.run(input, fetch);
    ms.push(performance.now() - t);
  }
  return summarize(ms);
}

type Options = ort.InferenceSession.SessionOptions;

async function withSession<T>(graph: Uint8Array | string, options: Options, use: (s: ort.InferenceSession) => Promise<T>): Promise<T> {
  const session = typeof graph === 'string' ? await ort.InferenceSession.create(graph, options) : await ort.InferenceSession.create(graph, options);
  try {
    return await use(session);
  } finally {
    await session.release();
  }
}

interface Profile {
  runs: number;
  /** ORT's own model_run duration, mean (ms). */
  modelRunMs: number;
  /** Sum over nodes of the executor's time per node, mean per run (ms): on CUDA, launching, not the kernels. */
  nodeMsPerRun: number;
  nodesPerRun: number;
  byProvider: Record<string, { nodes: number; msPerRun: number }>;
  cpuNodes: string[];
  topOps: { op: string; provider: string; nodes: number; msPerRun: number }[];
}

async function profile(graph: Uint8Array, options: Options, input: Record<string, ort.Tensor>, fetch: readonly string[], runs: number): Promise<Profile> {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-latency-profile-'));
  try {
    await withSession(graph, { ...options, enableProfiling: true, profileFilePrefix: join(dir, 'p') }, async (s) => {
      for (let i = 0; i < runs; i++) await s.run(input, fetch);
      s.endProfiling();
    });
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('ONNX Runtime wrote no profile');
    type Event = { cat?: string; name?: string; dur?: number; args?: { op_name?: string; provider?: string } };
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Event[];
    const modelRuns = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
    // The first runs allocate: count the last `runs - 10`.
    const counted = modelRuns.slice(10);
    const nodes = events.filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time'));
    const perRun = nodes.length / Math.max(1, modelRuns.length);
    const byProvider: Profile['byProvider'] = {};
    const byOp = new Map<string, { op: string; provider: string; nodes: number; us: number }>();
    const cpuNodes = new Set<string>();
    for (const e of nodes) {
      const provider = (e.args?.provider ?? 'unknown').replace('ExecutionProvider', '');
      const op = e.args?.op_name ?? '?';
      const p = (byProvider[provider] ??= { nodes: 0, msPerRun: 0 });
      p.nodes++;
      p.msPerRun += (e.dur ?? 0) / 1000;
      const key = `${op}@${provider}`;
      const o = byOp.get(key) ?? { op, provider, nodes: 0, us: 0 };
      o.nodes++;
      o.us += e.dur ?? 0;
      byOp.set(key, o);
      if (provider === 'CPU') cpuNodes.add(`${op} ${e.name!.replace(/_kernel_time$/, '')}`);
    }
    for (const p of Object.values(byProvider)) {
      p.nodes /= modelRuns.length;
      p.msPerRun /= modelRuns.length;
    }
    return {
      runs: modelRuns.length,
      modelRunMs: counted.reduce((a, e) => a + (e.dur ?? 0), 0) / Math.max(1, counted.length) / 1000,
      nodeMsPerRun: nodes.reduce((a, e) => a + (e.dur ?? 0), 0) / modelRuns.length / 1000,
      nodesPerRun: perRun,
      byProvider,
      cpuNodes: [...cpuNodes].slice(0, 40),
      topOps: [...byOp.values()]
        .map((o) => ({ op: o.op, provider: o.provider, nodes: o.nodes / modelRuns.length, msPerRun: o.us / modelRuns.length / 1000 }))
        .sort((a, b) => b.msPerRun - a.msPerRun)
        .slice(0, 15),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function oneNodeGraph(): Uint8Array {
  return encodeModel(
    makeModel(
      makeGraph({
        name: 'one_node',
        nodes: [makeNode('Relu', ['x'], ['y'])],
        inputs: [makeValueInfo('x', DataType.FLOAT, [1, 768])],
        outputs: [makeValueInfo('y', DataType.FLOAT, [1, 768])],
      }),
    ),
  );
}

async function ortAlone(ids: number[]) {
  const manifest = readManifest(MODEL, { onnxFile: ONNX_FILE });
  const graph = prepareServingGraph(manifest.onnxPath, { pooling: manifest.pooling, poolInGraph: true });
  if (!graph.bytes || !graph.outputName) throw new Error(`${manifest.onnxPath}: the server would not rewrite this graph (${graph.note ?? 'unreadable'})`);
  const bytes = new Uint8Array(graph.bytes);
  const fetch = [graph.outputName, ...(graph.normalizedOutputName ? [graph.normalizedOutputName] : [])];
  const threads = resolveIntraOpThreads(0, ON_CUDA ? 'cuda' : 'cpu');
  const served = sessionOptions(EPS, threads, { enableMemPattern: true });
  const seq = Math.ceil(ids.length / 8) * 8;
  const variants: { name: string; timing: Timing }[] = [];
  const measure = async (name: string, g: Uint8Array | string, options: Options, out: readonly string[], length = seq) => {
    const timing = await withSession(g, options, (s) => timeRuns(s, feeds(s, ids, length), out, RUNS));
    variants.push({ name, timing });
    console.error(`[ort] ${name}: p50 ${timing.p50Ms.toFixed(3)} ms, p99 ${timing.p99Ms.toFixed(3)} ms, min ${timing.minMs.toFixed(3)} ms`);
  };
  await measure(`served graph and options, 1 x ${seq} tokens`, bytes, served, fetch);
  const tries: [string, () => Promise<void>][] = [
    ['fetching the normalized output only', () => measure('fetching the normalized output only', bytes, served, fetch.slice(-1))],
    threads === 1
      ? [
          'default intra-op threads',
          () => measure("ONNX Runtime's default intra-op threads", bytes, sessionOptions(EPS, null, { enableMemPattern: true }), fetch),
        ]
      : ['one intra-op thread', () => measure('one intra-op thread', bytes, { ...served, intraOpNumThreads: 1 }, fetch)],
    ['pool threads spinning', () => measure('pool threads spinning', bytes, { ...served, extra: {} }, fetch)],
    ['memory pattern off', () => measure('memory pattern off', bytes, { ...served, enableMemPattern: false }, fetch)],
    [
      'no pooling head',
      () => measure('the file as it is (token states out, no pooling head)', manifest.onnxPath, served, [graph.tokenOutputName ?? 'last_hidden_state']),
    ],
  ];
  const failures: string[] = [];
  for (const [name, run] of tries) await run().catch((e) => failures.push(`${name}: ${(e as Error).message.slice(0, 300)}`));
  const sweep: { tokens: number; timing: Timing }[] = [];
  await withSession(bytes, served, async (s) => {
    for (const tokens of [8, 16, 32, 64, 128, 256].filter((n) => n <= manifest.maxLength)) {
      const timing = await timeRuns(s, feeds(s, ids.slice(0, Math.min(ids.length, tokens)), tokens), fetch, Math.min(RUNS, 1000));
      sweep.push({ tokens, timing });
      console.error(`[ort] 1 x ${tokens}: p50 ${timing.p50Ms.toFixed(3)} ms`);
    }
  });
  const floor = await withSession(oneNodeGraph(), sessionOptions(EPS, threads), (s) =>
    timeRuns(s, { x: new ort.Tensor('float32', new Float32Array(768), [1, 768]) }, ['y'], RUNS),
  );
  console.error(`[ort] one-node graph: p50 ${floor.p50Ms.toFixed(3)} ms`);
  const prof = await withSession(bytes, served, async (s) => feeds(s, ids, seq)).then((input) => profile(bytes, served, input, fetch, 300));
  console.error(`[ort] profile: ${prof.nodesPerRun} nodes per run, ${JSON.stringify(prof.byProvider)}`);
  return { seq, variants, sweep, oneNodeGraph: floor, profile: prof, failures };
}

async function served(text: string) {
  const server = await startServer({ model: MODEL, intraOpThreads: 0, extraArgs: ['--device', DEVICE, '--onnx-file', ONNX_FILE, ...passThroughArgs()] });
  try {
    // What the server says of its sessions (e.g. whether --cuda-graphs captured its shapes).
    const info = await (await fetch(`${server.httpUrl}/info`)).text();
    const notes = [...new Set(info.match(/--cuda-graphs[^"]*/g) ?? [])];
    const dir = mkdtempSync(join(tmpdir(), 'coalesce-w3-'));
    const bodiesFile = join(dir, 'bodies.json');
    const body = JSON.stringify({ inputs: text, truncate: true });
    writeFileSync(bodiesFile, JSON.stringify([{ body, tokens: text.split(' ').length + 2 }]));
    // The loaders check the first answers' width.
    const first = (await (
      await fetch(`${server.httpUrl}/embed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    ).json()) as number[][];
    const dimensions = first[0].length;
    // The same server measured through two clients: node:http (what most Node callers use) and a lean
    // one (lean-http.ts: pre-built request bytes on one socket, like wrk), whose own cost is smallest.
    const measure = async (client: 'node' | 'lean') => {
      const run = await runLoadPhase({
        url: server.httpUrl,
        bodiesFile,
        clients: 1,
        loaders: 1,
        accept: 'json',
        textsPerRequest: 1,
        dimensions,
        sumHeaders: [],
        warmupS: 3,
        seconds: SECONDS,
        pid: server.child.pid!,
        client,
      });
      const mean = (name: string) => {
        const s = histogramMean(run.metrics, name);
        return s === null ? null : s * 1000;
      };
      const hops = {
        clientMs: run.latencyMs.mean,
        requestMs: mean('te_request_duration'),
        tokenizationMs: mean('te_request_tokenization_duration'),
        queueMs: mean('te_request_queue_duration'),
        inferenceMs: mean('te_request_inference_duration'),
        batchMs: mean('te_batch_inference_duration'),
        sessionThreadMs: mean('coalesce_batch_session_duration'),
      };
      return { latency: run.latencyMs, requests: run.requests, errors: run.errors, firstError: run.firstError, hops, cpu: run.cpu, threads: run.threads };
    };
    const viaNode = await measure('node');
    const viaLean = await measure('lean');
    rmSync(dir, { recursive: true, force: true });
    return { ...viaNode, lean: viaLean, notes };
  } finally {
    await server.stop();
  }
}

function markdown(r: any): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));
  const lines = [
    `# Where one short text's time goes (${r.device})`,
    '',
    `${r.date}, commit \`${r.commit}\`, ${r.machine}. Model ${r.model} (${r.onnxFile}); text "${r.text}" (${r.tokens} tokens).`,
    ...(r.note ? ['', r.note] : []),
    '',
    '## Served over HTTP, one client (means over the window)',
    '',
    '| hop | ms |',
    '| --- | ---: |',
  ];
  const s = r.served;
  if (s?.hops) {
    const h = s.hops;
    lines.push(
      `| client: request to answer (p50 ${f(s.latency.p50)}, p99 ${f(s.latency.p99)}) | ${f(h.clientMs)} |`,
      `| outside the server's request timer: HTTP parsing, JSON, loopback, client | ${f(h.clientMs - h.requestMs)} |`,
      `| server request timer | ${f(h.requestMs)} |`,
      `| tokenization | ${f(h.tokenizationMs)} |`,
      `| queue (enqueued to batch start) | ${f(h.queueMs)} |`,
      `| model call as the main thread sees it | ${f(h.inferenceMs)} |`,
      `| of which the session thread's own work | ${f(h.sessionThreadMs)} |`,
      `| of which ORT's session.run alone (below, p50) | ${f(r.ort?.variants?.[0]?.timing.p50Ms)} |`,
      `| rest of the request timer (validation, answer, hand-offs) | ${f(h.requestMs - (h.tokenizationMs ?? 0) - (h.queueMs ?? 0) - (h.inferenceMs ?? 0))} |`,
    );
  } else lines.push(`| failed | ${s?.error ?? ''} |`);
  if (s?.lean?.hops) {
    const row = (name: string, m: any) =>
      `| ${name} | ${f(m.latency.p50)} | ${f(m.latency.p99)} | ${f(m.hops.clientMs)} | ${f(m.hops.clientMs - m.hops.requestMs)} | ${f(m.hops.requestMs)} | ${f(m.hops.sessionThreadMs)} | ${m.errors} |`;
    lines.push(
      '',
      'The same server, one client after the other (the table above is node:http):',
      '',
      '| client | p50 ms | p99 ms | mean ms | outside the request timer | request timer | session thread | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      row('node:http, keep-alive Agent', s),
      row('lean (lean-http.ts: one socket, request bytes built once, like wrk)', s.lean),
    );
  }
  if (s?.notes?.length) lines.push('', `Server: ${s.notes.join('; ')}.`);
  lines.push('', '## ONNX Runtime alone, this thread', '', '| variant | p50 ms | p99 ms | min ms |', '| --- | ---: | ---: | ---: |');
  for (const v of r.ort?.variants ?? []) lines.push(`| ${v.name} | ${f(v.timing.p50Ms)} | ${f(v.timing.p99Ms)} | ${f(v.timing.minMs)} |`);
  if (r.ort?.oneNodeGraph)
    lines.push(`| a one-node graph (Relu on 768 floats) | ${f(r.ort.oneNodeGraph.p50Ms)} | ${f(r.ort.oneNodeGraph.p99Ms)} | ${f(r.ort.oneNodeGraph.minMs)} |`);
  if (r.ort?.sweep) {
    lines.push('', '| tokens (batch 1) | p50 ms |', '| ---: | ---: |');
    for (const p of r.ort.sweep) lines.push(`| ${p.tokens} | ${f(p.timing.p50Ms)} |`);
  }
  const p = r.ort?.profile;
  if (p) {
    lines.push(
      '',
      `ORT profiler over ${p.runs} runs: model_run ${f(p.modelRunMs)} ms, ${p.nodesPerRun} nodes per run taking ${f(p.nodeMsPerRun)} ms of executor time per run.`,
      '',
      '| provider | nodes per run | ms per run |',
      '| --- | ---: | ---: |',
      ...Object.entries(p.byProvider as Record<string, { nodes: number; msPerRun: number }>).map(([k, v]) => `| ${k} | ${v.nodes} | ${f(v.msPerRun)} |`),
      '',
      '| op | provider | nodes | ms per run |',
      '| --- | --- | ---: | ---: |',
      ...p.topOps.map((o: any) => `| ${o.op} | ${o.provider} | ${o.nodes} | ${f(o.msPerRun)} |`),
    );
    if (p.cpuNodes.length && ON_CUDA) lines.push('', `Nodes on the CPU: ${p.cpuNodes.join(', ')}`);
  }
  if (r.ortError) lines.push('', `ORT part failed: ${r.ortError}`);
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  // The GPU models carry their benchmark texts (make_bert_base.py); others take W3's sentence.
  const textsFile = join(MODEL, 'texts.json');
  const texts = existsSync(textsFile)
    ? (JSON.parse(readFileSync(textsFile, 'utf8')) as { w3: string })
    : { w3: flag('text', 'what is the weather like in paris today and tomorrow morning') };
  const manifest = readManifest(MODEL, { onnxFile: ONNX_FILE });
  const tokenizer = HfTokenizer.fromFiles(manifest.tokenizerPath, manifest.tokenizerConfigPath, manifest.maxLength);
  const ids = [...tokenizer.encode(texts.w3, { truncate: true, direction: 'right' }).ids];
  const report: Record<string, unknown> = {
    ...runMeta(),
    device: DEVICE,
    model: MODEL,
    onnxFile: ONNX_FILE,
    text: texts.w3,
    tokens: ids.length,
    serverFlags: passThroughArgs(),
  };
  // --served-only: the served hops alone (server variants compared in one device call).
  if (!argv.includes('--served-only')) {
    try {
      report.ort = await ortAlone(ids);
    } catch (e) {
      report.ortError = (e as Error).stack ?? String(e);
    }
  }
  try {
    report.served = await served(texts.w3);
  } catch (e) {
    report.served = { error: (e as Error).message.slice(0, 2000) };
  }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${NAME}.json`), JSON.stringify(report, null, 2) + '\n');
  const md = markdown(report);
  writeFileSync(join(OUT, `${NAME}.md`), md);
  process.stdout.write(md);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
