// SigLIP-base vision tower graphs, fused (com.microsoft MultiHeadAttention, fuse_mha.py) vs unfused, one
// onnxruntime-node CUDA session each (like ../vision-raw-session.mjs). Device machine, after export + fuse_mha.py.
//   node time_vision.mjs time              timings at batch 1/16/64, pooler_output cosines, batch-64 profiles (prof-*)
//   node time_vision.mjs profile <tag>     batch-64 profiles only, files prefixed prof-<tag>- (run it under
//                                          CUDA_LAUNCH_BLOCKING=1 so that a node's dur is its GPU time)
//   node time_vision.mjs one <file>        batch 64, 2 + 10 runs of one graph (for nsys)
// Env FETCH=pooler_output fetches only that output (as src/backend/ort/vision-worker.ts does); default: all outputs
// (as ../vision-raw-session.mjs did, which copies last_hidden_state [B, 196, 768] fp32 to the host every run).
// Env: MODEL_DIR (default /tmp/bench-siglip-base/onnx), OUT (results), EP (cuda | cpu, for a dry run).
import * as ort from 'onnxruntime-node';
import fs from 'node:fs';
import path from 'node:path';

const DIR = process.env.MODEL_DIR ?? '/tmp/bench-siglip-base/onnx';
const OUT = process.env.OUT ?? '.';
const PROF_DIR = process.env.PROF_DIR ?? OUT; // trace files (big); summaries go to OUT
const FETCH = process.env.FETCH ? process.env.FETCH.split(',') : undefined; // e.g. pooler_output: skip last_hidden_state's D2H + JS copy
fs.mkdirSync(PROF_DIR, { recursive: true });
const EP = process.env.EP ?? 'cuda';
const BATCHES = (process.env.BATCHES ?? '1,16,64').split(',').map(Number);
const GRAPHS = [
  'vision_model_fp16.onnx',
  'vision_model_mha_fp16.onnx',
  'vision_model_mha_fp16_vit.onnx',
  'vision_model_mha_fp16_clip.onnx',
  'vision_model.onnx',
  'vision_model_mha.onnx',
].filter((f) => fs.existsSync(path.join(DIR, f)));
const [mode = 'time', arg] = process.argv.slice(2);

// deterministic pixels in [-1, 1] (SigLIP normalizes to mean/std 0.5)
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const PROF_B = Number(process.env.PROF_BATCH ?? 64);
const MAXB = Math.max(...BATCHES, PROF_B);
const PIX = new Float32Array(MAXB * 3 * 224 * 224).map(rand);
const input = (b) => ({ pixel_values: new ort.Tensor('float32', PIX.subarray(0, b * 3 * 224 * 224), [b, 3, 224, 224]) });

const options = (extra = {}) => ({
  executionProviders: EP === 'cuda' ? [{ name: 'cuda', deviceId: 0 }] : ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: EP === 'cuda' ? 1 : 0,
  interOpNumThreads: 1,
  ...extra,
});

async function timeRuns(s, b, warm = 2, iters = 10) {
  const feeds = input(b);
  let out;
  for (let i = 0; i < warm; i++) out = await s.run(feeds, FETCH);
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) out = await s.run(feeds, FETCH);
  return { ms: (performance.now() - t0) / iters, out };
}

function minRowCos(a, b, dim) {
  let min = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let ab = 0,
      aa = 0,
      bb = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      ab += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
    }
    min = Math.min(min, ab / Math.sqrt(aa * bb));
  }
  return min;
}

// Node events of the last `iters` model_run windows, per op type
function summarize(file, iters) {
  const ev = JSON.parse(fs.readFileSync(file, 'utf8'));
  const runs = ev
    .filter((e) => e.cat === 'Session' && e.name === 'model_run')
    .sort((a, b) => a.ts - b.ts)
    .slice(-iters);
  const inRun = (e) => runs.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
  const nodes = ev.filter((e) => e.cat === 'Node' && String(e.name).endsWith('_kernel_time') && inRun(e));
  const byOp = {},
    notCuda = {};
  for (const e of nodes) {
    const op = e.args?.op_name ?? '?';
    const o = (byOp[op] ??= { total_us: 0, count: 0 });
    o.total_us += e.dur;
    o.count += 1;
    if (e.args?.provider !== 'CUDAExecutionProvider') notCuda[`${e.name.replace(/_kernel_time$/, '')} (${op}, ${e.args?.provider})`] = true;
  }
  const runMs = runs.map((r) => r.dur / 1000);
  const nodeSum = nodes.reduce((a, e) => a + e.dur, 0) / 1000 / runs.length;
  // inside model_run: before the first node (feeds copied to the GPU), after the last node (sync + outputs to the host);
  // between model_runs: onnxruntime-node's own work (outputs into JS ArrayBuffers) and the JS loop
  let pre = 0,
    post = 0;
  for (const r of runs) {
    const inside = nodes.filter((e) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
    pre += Math.min(...inside.map((e) => e.ts)) - r.ts;
    post += r.ts + r.dur - Math.max(...inside.map((e) => e.ts + e.dur));
  }
  let gap = 0;
  for (let i = 1; i < runs.length; i++) gap += runs[i].ts - (runs[i - 1].ts + runs[i - 1].dur);
  const phases = {
    before_first_node_ms: +(pre / 1000 / runs.length).toFixed(3),
    after_last_node_ms: +(post / 1000 / runs.length).toFixed(3),
    between_runs_ms: +(gap / 1000 / Math.max(1, runs.length - 1)).toFixed(3),
  };
  const ops = Object.entries(byOp)
    .sort((a, b) => b[1].total_us - a[1].total_us)
    .map(([op, o]) => ({ op, ms_per_run: +(o.total_us / 1000 / runs.length).toFixed(3), nodes_per_run: o.count / runs.length }));
  return {
    runs: runs.length,
    ...phases,
    model_run_ms: +(runMs.reduce((a, b) => a + b, 0) / runMs.length).toFixed(3),
    node_sum_ms_per_run: +nodeSum.toFixed(3),
    ops,
    not_cuda: Object.keys(notCuda),
  };
}

async function profile(tag) {
  const res = {};
  for (const f of GRAPHS) {
    const name = f.replace(/\.onnx$/, '');
    const prefix = path.join(PROF_DIR, `prof-${tag ? tag + '-' : ''}${name}`);
    const before = new Set(fs.readdirSync(PROF_DIR));
    const s = await ort.InferenceSession.create(path.join(DIR, f), options({ enableProfiling: true, profileFilePrefix: prefix }));
    const { ms } = await timeRuns(s, PROF_B);
    s.endProfiling();
    await s.release();
    const file = fs
      .readdirSync(PROF_DIR)
      .filter((x) => !before.has(x) && path.join(PROF_DIR, x).startsWith(prefix + '_') && x.endsWith('.json'))
      .map((x) => path.join(PROF_DIR, x))
      .sort()
      .pop();
    const sum = summarize(file, 10);
    res[name] = { wall_ms_profiled: +ms.toFixed(2), ...sum, trace: path.basename(file) };
    console.log(
      `\n== profile${tag ? ' ' + tag : ''} ${f} batch ${PROF_B}: wall ${ms.toFixed(2)} ms/run, model_run ${sum.model_run_ms} ms (before first node ${sum.before_first_node_ms}, after last node ${sum.after_last_node_ms}), sum of node durs ${sum.node_sum_ms_per_run} ms/run, between runs ${sum.between_runs_ms} ms`,
    );
    for (const o of sum.ops) console.log(`  ${o.op.padEnd(28)} ${o.ms_per_run.toFixed(3).padStart(9)} ms/run  ${String(o.nodes_per_run).padStart(5)} nodes`);
    if (sum.not_cuda.length) console.log('  not on CUDA:', sum.not_cuda.join(', '));
    else console.log('  every node on CUDAExecutionProvider');
  }
  fs.writeFileSync(path.join(OUT, `profile${tag ? '-' + tag : ''}${FETCH ? '-fetch' : ''}.json`), JSON.stringify(res, null, 1));
}

if (mode === 'time') {
  const rows = [],
    pooled = {};
  for (const f of GRAPHS) {
    const s = await ort.InferenceSession.create(path.join(DIR, f), options());
    for (const b of BATCHES) {
      const { ms, out } = await timeRuns(s, b);
      rows.push({ graph: f, batch: b, ms: +ms.toFixed(2), img_s: Math.round((b / ms) * 1000) });
      console.log(f.padEnd(34), 'batch', String(b).padStart(3), ms.toFixed(2).padStart(8), 'ms', String(Math.round((b / ms) * 1000)).padStart(6), 'img/s');
      if (b === Math.max(...BATCHES)) pooled[f] = Float32Array.from(out.pooler_output.data);
    }
    await s.release();
  }
  const cos = {};
  const ref = pooled['vision_model.onnx'];
  for (const [f, p] of Object.entries(pooled)) {
    if (ref && f !== 'vision_model.onnx') cos[`${f} vs vision_model.onnx`] = minRowCos(p, ref, 768);
  }
  if (pooled['vision_model_fp16.onnx'] && pooled['vision_model_mha_fp16.onnx'])
    cos['vision_model_mha_fp16.onnx vs vision_model_fp16.onnx'] = minRowCos(pooled['vision_model_mha_fp16.onnx'], pooled['vision_model_fp16.onnx'], 768);
  console.log('\npooler_output min row cosine (CUDA, batch', Math.max(...BATCHES) + '):');
  for (const [k, v] of Object.entries(cos)) console.log(' ', k.padEnd(58), v.toFixed(6));
  fs.writeFileSync(
    path.join(OUT, `timings${FETCH ? '-fetch' : ''}.json`),
    JSON.stringify({ ep: EP, fetch: FETCH ?? 'all outputs', rows, pooler_min_cos: cos }, null, 1),
  );
  await profile('');
} else if (mode === 'profile') {
  await profile(arg ?? 'lb');
} else if (mode === 'one') {
  const s = await ort.InferenceSession.create(path.join(DIR, arg), options());
  const { ms } = await timeRuns(s, 64);
  console.log(arg, 'batch 64', ms.toFixed(2), 'ms');
}
