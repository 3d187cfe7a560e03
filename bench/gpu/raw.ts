/**
 * The ceiling: OrtBackend (the server's own session workers) on pre-formed batches, no HTTP, no
 * tokenization in the timed part. Runs as its own process so the CUDA context it creates is gone
 * before the served phase (whose one-process check counts the processes on the GPU).
 *
 * usage: node raw.js <file of a JSON RawTask>   -> prints one JSON line `RESULT {...}` (child.ts runs it)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import { readManifest } from '../../src/model-prep/manifest.js';
import { OrtBackend } from '../../src/backend/ort/ort-backend.js';
import type { EncodedText } from '../../src/core/types.js';
import { HfTokenizer } from '../../src/preprocess/tokenizer.js';
import { childPayload } from './child.js';

export interface RawTask {
  label: string;
  model: string;
  onnxFile: string;
  device: string;
  sessions: number;
  poolInGraph: boolean;
  /** Texts per W1 batch to try (each text is 128 tokens). */
  w1Batches: number[];
  /** Token budget (padded) for the W2 batches; 0 skips W2. */
  w2BudgetTokens: number;
  w2MaxBatch: number;
  /**
   * 'sorted': batches of length-sorted texts (what a full queue allows, best for padded graphs);
   * 'arrival': texts in arrival order, a batch closing at the budget or w2MaxBatch (what a
   * dynamic batcher meets with a short queue). Budgets count padding unless the graph removes it.
   */
  w2Order?: 'sorted' | 'arrival';
  /** Texts in arrival order cut into batches of these sizes in turn (the served batches, replayed); overrides w2Order. */
  w2BatchSizes?: number[];
  /** Passes over all W2 batches: the first meets every shape cold, the later ones warm. */
  w2Passes: number;
  seqMultiple: number;
  batchMultiple: number;
  memPattern: string;
  shapeBuckets: string;
  latency: boolean;
  /** Texts to embed and return (normalized), for the correctness check. */
  referenceTexts: string[];
  secondsPerPoint: number;
}

interface Texts {
  w1: string[];
  w2: string[];
  w3: string;
  w2_tokens: number[];
}

function gpuUsedTotalMiB(): number | null {
  const r = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim().split('\n')[0]) : null;
}

function gpuMemoryMiB(pid: number): number | null {
  const r = spawnSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  for (const line of r.stdout.trim().split('\n')) {
    const [p, mem] = line.split(',').map((s) => s.trim());
    if (Number(p) === pid) return Number(mem);
  }
  return null;
}

/** Keeps `inFlight` batches running, cycling through `batches`, for about `seconds` (at least `minBatches`). */
async function throughput(backend: OrtBackend, batches: EncodedText[][], seconds: number, minBatches: number) {
  const inFlight = backend.maxConcurrentBatches;
  // warm-up: every batch shape once per session
  for (let i = 0; i < Math.min(batches.length, 3); i++) await Promise.all(Array.from({ length: inFlight }, () => backend.embed({ inputs: batches[i] })));
  let next = 0;
  let tokens = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const lane = async () => {
    while (performance.now() < deadline || next < minBatches) {
      const batch = batches[next++ % batches.length];
      await backend.embed({ inputs: batch });
      tokens += batch.reduce((n, t) => n + t.ids.length, 0);
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const s = (performance.now() - started) / 1000;
  return { batches: done, tokens, s, tokensPerS: tokens / s, msPerBatch: (s * 1000) / done };
}

/** Texts in arrival order, each batch within the budget (real tokens for graphs that remove padding). */
function arrivalBatches(encoded: EncodedText[], budget: number, maxBatch: number, padded: boolean): EncodedText[][] {
  const out: EncodedText[][] = [];
  let cur: EncodedText[] = [];
  let longest = 0;
  let tokens = 0;
  for (const e of encoded) {
    const n = e.ids.length;
    const cost = padded ? (cur.length + 1) * Math.max(longest, n) : tokens + n;
    if (cur.length > 0 && (cost > budget || cur.length >= maxBatch)) {
      out.push(cur);
      cur = [];
      longest = 0;
      tokens = 0;
    }
    cur.push(e);
    longest = Math.max(longest, n);
    tokens += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Texts in arrival order, cycling, cut into batches of `sizes` in turn: the sizes the server formed, replayed. */
function replayedBatches(encoded: EncodedText[], sizes: number[]): EncodedText[][] {
  let next = 0;
  return sizes.map((n) => Array.from({ length: n }, () => encoded[next++ % encoded.length]));
}

/** The server's padded budget applied to length-sorted texts: what a full queue lets the batcher form. */
function sortedBatches(encoded: EncodedText[], budget: number, maxBatch: number): EncodedText[][] {
  const sorted = [...encoded].sort((a, b) => a.ids.length - b.ids.length);
  const out: EncodedText[][] = [];
  let cur: EncodedText[] = [];
  for (const e of sorted) {
    // Ascending lengths: the newcomer is the longest of its batch.
    if (cur.length > 0 && ((cur.length + 1) * e.ids.length > budget || cur.length >= maxBatch)) {
      out.push(cur);
      cur = [];
    }
    cur.push(e);
  }
  if (cur.length) out.push(cur);
  return out;
}

async function main(): Promise<void> {
  const task = childPayload<RawTask>();
  const texts = JSON.parse(readFileSync(join(task.model, 'texts.json'), 'utf8')) as Texts;
  const manifest = readManifest(task.model, { onnxFile: task.onnxFile });
  const tokenizer = HfTokenizer.fromFiles(manifest.tokenizerPath, manifest.tokenizerConfigPath, manifest.maxLength);
  const encode = (t: string) => tokenizer.encode(t, { truncate: true, direction: 'right' });
  const result: Record<string, unknown> = { label: task.label, pid: process.pid };

  const t0 = performance.now();
  const backend = await OrtBackend.start('bench', manifest, {
    device: task.device,
    intraOpThreads: 0,
    sessions: task.sessions,
    poolInGraph: task.poolInGraph,
    seqMultiple: task.seqMultiple,
    batchMultiple: task.batchMultiple,
    memPattern: task.memPattern as Config['memPattern'],
    shapeBuckets: task.shapeBuckets as Config['shapeBuckets'],
    warmupTokens: task.w2BudgetTokens || 32768,
    warmupRows: 512,
  });
  result.loadMs = performance.now() - t0;
  result.info = { ...backend.info, sessions: backend.sessions, pooledInGraph: backend.pooledInGraph, notes: backend.notes, warmup: backend.warmup };
  if (backend.warmup.shapes > 0)
    console.error(`[raw ${task.label}] warmed ${backend.warmup.shapes} bucket shapes in ${(backend.warmup.ms / 1000).toFixed(1)} s`);
  result.gpuMemoryAfterLoadMiB = gpuMemoryMiB(process.pid);
  result.gpuUsedTotalAfterLoadMiB = gpuUsedTotalMiB();

  const w1 = texts.w1.slice(0, 2048).map(encode);
  result.w1TokenCountsOk = w1.every((e) => e.ids.length === 128);
  const points: Record<string, unknown>[] = [];
  for (const size of task.w1Batches) {
    const batches: EncodedText[][] = [];
    for (let i = 0; i + size <= w1.length; i += size) batches.push(w1.slice(i, i + size));
    const r = await throughput(backend, batches, task.secondsPerPoint, 4);
    points.push({ batch: size, tokensPerBatch: size * 128, ...r });
    console.error(`[raw ${task.label}] W1 batch ${size}: ${(r.tokensPerS / 1e6).toFixed(3)} M tok/s, ${r.msPerBatch.toFixed(1)} ms/batch`);
  }
  result.w1 = points;

  if (task.w2BudgetTokens > 0) {
    const w2 = texts.w2.map(encode);
    const counts = w2.map((e) => e.ids.length);
    result.w2TokenCountsMatch = counts.filter((n, i) => n === texts.w2_tokens[i]).length / counts.length;
    const batches = task.w2BatchSizes
      ? replayedBatches(w2, task.w2BatchSizes)
      : task.w2Order === 'arrival'
        ? arrivalBatches(w2, task.w2BudgetTokens, task.w2MaxBatch, backend.info.padded)
        : sortedBatches(w2, task.w2BudgetTokens, task.w2MaxBatch);
    result.w2Order = task.w2BatchSizes ? 'replayed sizes' : (task.w2Order ?? 'sorted');
    result.paddingRemovedInGraph = backend.removesPadding;
    const useful = batches.reduce((n, b) => n + b.reduce((m, e) => m + e.ids.length, 0), 0);
    const padded = batches.reduce((n, b) => n + b.length * Math.max(...b.map((e) => e.ids.length)), 0);
    const passes: number[] = [];
    for (let p = 0; p < task.w2Passes; p++) {
      let next = 0;
      const t = performance.now();
      const lane = async () => {
        while (next < batches.length) await backend.embed({ inputs: batches[next++] });
      };
      await Promise.all(Array.from({ length: backend.maxConcurrentBatches }, lane));
      passes.push(useful / ((performance.now() - t) / 1000));
    }
    const warm = passes.length > 1 ? Math.max(...passes.slice(1)) : passes[0];
    result.w2 = {
      budget: task.w2BudgetTokens,
      formedBatches: batches.length,
      paddingEfficiency: useful / padded,
      tokens: useful,
      passTokensPerS: passes,
      coldTokensPerS: passes[0],
      tokensPerS: warm,
    };
    console.error(
      `[raw ${task.label}] W2: passes ${passes.map((x) => (x / 1e6).toFixed(3)).join(' / ')} M tok/s (first pass meets every shape cold) over ${batches.length} batches, padding efficiency ${(useful / padded).toFixed(3)}`,
    );
  }

  if (task.latency) {
    const one = [encode(texts.w3)];
    for (let i = 0; i < 30; i++) await backend.embed({ inputs: one });
    const lat: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = performance.now();
      await backend.embed({ inputs: one });
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    result.w3 = { tokens: one[0].ids.length, p50Ms: lat[150], p99Ms: lat[296], minMs: lat[0] };
    console.error(`[raw ${task.label}] W3 batch of 1 x ${one[0].ids.length} tokens: p50 ${lat[150].toFixed(2)} ms, p99 ${lat[296].toFixed(2)} ms`);
  }

  if (task.referenceTexts.length > 0) {
    const { normalized } = await backend.embed({ inputs: task.referenceTexts.map(encode) });
    result.referenceVectors = normalized!.map((v) => Array.from(v));
  }
  result.gpuMemoryPeakMiB = gpuMemoryMiB(process.pid);
  result.gpuUsedTotalMiB = gpuUsedTotalMiB();
  await backend.close();
  // A pipe write is asynchronous: exit only once the whole line is out.
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n', () => process.exit(0));
}

main().catch((e) => {
  process.stdout.write('RESULT ' + JSON.stringify({ error: (e as Error).message }) + '\n', () => process.exit(1));
});
