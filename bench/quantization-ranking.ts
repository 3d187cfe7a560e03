/**
 * How much retrieval ranking each output encoding keeps. A fixed set of queries and documents
 * (bench/texts.ts sentences, fixed seeds) is embedded once per model through the server's
 * Cohere route, which returns every encoding of one model call (the server's own quantization,
 * int8/uint8 with the ranges it calibrated at start). For each query, every document is scored
 * in each encoding and compared with the float scores:
 *   - Spearman rank correlation of the scores over all documents (ties take their mean rank);
 *   - recall@10: the share of float's top 10 that the encoding's top 10 keeps.
 * Scores: float and base64, the dot product of the normalized vectors; int8 and uint8, the dot
 * product of the codes (what an int8 inner-product index computes; uint8 codes taken minus 128)
 * and of the codes mapped back to floats with the server's ranges (min + (code + 0.5) * step);
 * binary and ubinary, dimensions minus twice the Hamming distance (a bit index), and a float
 * query against the documents' sign bits (sentence-transformers' rescoring setting).
 * Writes bench/results/quantization-ranking.{json,md}.
 *
 *   node dist/bench/quantization-ranking.js [--models models/default,test/fixtures/tiny-bert] [--queries 200] [--documents 2000]
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { flagValue } from './args.js';
import { startServer } from './server-process.js';
import { rng, sentence } from './texts.js';
import { PROJECT_ROOT } from '../src/paths.js';

const TYPES = ['float', 'base64', 'int8', 'uint8', 'binary', 'ubinary'] as const;
type EmbeddingType = (typeof TYPES)[number];
type Embeddings = Record<EmbeddingType, unknown[]>;

interface Scored {
  encoding: string;
  scoring: string;
  bytesPerVector: number;
  spearman: { mean: number; min: number };
  recallAt10: { mean: number; min: number };
}

interface ModelRun {
  model: string;
  dimensions: number;
  /** The served width when cut (Matryoshka `output_dimension`); null: the model's. */
  outputDimension: number | null;
  calibration: unknown;
  rows: Scored[];
}

/** Distinct texts from the benchmark's sentence generator. */
function texts(seed: number, count: number, exclude: Set<string> = new Set()): string[] {
  const r = rng(seed);
  const out = new Set<string>();
  for (let tries = 0; out.size < count && tries < count * 50; tries++) {
    const t = sentence(r);
    if (!exclude.has(t)) out.add(t);
  }
  if (out.size < count) throw new Error(`only ${out.size} distinct texts for ${count}`);
  return [...out];
}

async function embedAll(url: string, inputs: string[], inputType: string, outputDimension: number | null): Promise<Embeddings> {
  const all = Object.fromEntries(TYPES.map((t) => [t, [] as unknown[]])) as Embeddings;
  for (let at = 0; at < inputs.length; at += 32) {
    const res = await fetch(`${url}/v2/embed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'bench',
        texts: inputs.slice(at, at + 32),
        input_type: inputType,
        embedding_types: TYPES,
        ...(outputDimension ? { output_dimension: outputDimension } : {}),
      }),
    });
    if (res.status !== 200) throw new Error(`/v2/embed: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { embeddings: Embeddings };
    for (const t of TYPES) all[t].push(...body.embeddings[t]);
  }
  return all;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, i) => i.toString(2).replaceAll('0', '').length);

/** Ranks from 1, ties sharing their mean rank. */
function ranks(scores: readonly number[]): number[] {
  const order = scores.map((s, i) => [s, i] as const).sort((x, y) => y[0] - x[0]);
  const out = new Array<number>(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) out[order[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's rho: the Pearson correlation of the ranks (exact with ties). */
function spearman(a: readonly number[], b: readonly number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (a.length + 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (ra[i] - mean) * (rb[i] - mean);
    da += (ra[i] - mean) ** 2;
    db += (rb[i] - mean) ** 2;
  }
  return num / Math.sqrt(da * db);
}

/** Indices of the 10 best scores; ties broken by index, as a stable sort of an index would. */
function top10(scores: readonly number[]): Set<number> {
  return new Set(
    scores
      .map((s, i) => [s, i] as const)
      .sort((x, y) => y[0] - x[0] || x[1] - y[1])
      .slice(0, 10)
      .map(([, i]) => i),
  );
}

function per(values: number[]): { mean: number; min: number } {
  return { mean: values.reduce((s, v) => s + v, 0) / values.length, min: Math.min(...values) };
}

/** Codes back to floats, at the middle of their step (offset: 128 for int8, 0 for uint8). */
function dequantize(codes: number[], offset: number, ranges: { min: number[]; max: number[] }): number[] {
  return codes.map((c, d) => ranges.min[d] + (c + offset + 0.5) * ((ranges.max[d] - ranges.min[d]) / 255));
}

async function rangesOf(url: string, dimensions: number, outputDimension: number | null): Promise<{ min: number[]; max: number[] }> {
  // The server does not send its ranges: the bench finds them as the server does, from the same
  // calibration texts embedded raw, cut and normalized.
  const { CALIBRATION_TEXTS } = await import('../src/core/calibration-texts.js');
  const vectors: number[][] = [];
  for (let at = 0; at < CALIBRATION_TEXTS.length; at += 32) {
    const res = await fetch(`${url}/embed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: CALIBRATION_TEXTS.slice(at, at + 32), normalize: false, truncate: true }),
    });
    vectors.push(...((await res.json()) as number[][]));
  }
  const width = outputDimension ?? dimensions;
  const shaped = vectors.map((v) => {
    const cut = v.slice(0, width);
    const n = Math.hypot(...cut) || 1;
    return cut.map((x) => x / n);
  });
  return {
    min: Array.from({ length: width }, (_, d) => Math.min(...shaped.map((v) => v[d]))),
    max: Array.from({ length: width }, (_, d) => Math.max(...shaped.map((v) => v[d]))),
  };
}

function unpackSigns(bytes: number[], width: number, offset: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < width; i++) out.push(((bytes[i >> 3] + offset) >> (7 - (i & 7))) & 1 ? 1 : -1);
  return out;
}

function hammingScore(a: number[], b: number[], offset: number, width: number): number {
  let h = 0;
  for (let i = 0; i < a.length; i++) h += POPCOUNT[((a[i] + offset) ^ (b[i] + offset)) & 0xff];
  return width - 2 * h;
}

/** The model at full width, then cut to half its dimensions (a multiple of 8). */
async function runModel(model: string, queries: string[], documents: string[]): Promise<ModelRun[]> {
  const server = await startServer({ model, intraOpThreads: 1, extraArgs: ['--max-client-batch-size', '64'] });
  try {
    const info = (await (await fetch(`${server.httpUrl}/info`)).json()) as { dimensions: number; quantization: unknown };
    // Every request first, the scoring after: a long pause between requests lets the server close idle connections.
    const served: Served[] = [];
    for (const outputDimension of [null, Math.floor(info.dimensions / 16) * 8]) {
      served.push({
        outputDimension,
        q: await embedAll(server.httpUrl, queries, 'search_query', outputDimension),
        d: await embedAll(server.httpUrl, documents, 'search_document', outputDimension),
        ranges: await rangesOf(server.httpUrl, info.dimensions, outputDimension),
      });
    }
    return served.map((s) => scoreWidth(model, info, s));
  } catch (e) {
    throw new Error(`${(e as Error).message}; the server said:\n${server.output().slice(-4000)}`);
  } finally {
    await server.stop();
  }
}

interface Served {
  outputDimension: number | null;
  q: Embeddings;
  d: Embeddings;
  ranges: { min: number[]; max: number[] };
}

function scoreWidth(model: string, info: { dimensions: number; quantization: unknown }, { outputDimension, q, d, ranges }: Served): ModelRun {
  const width = outputDimension ?? info.dimensions;
  const floatQ = q.float as number[][];
  const floatD = d.float as number[][];
  const b64 = (s: unknown) => {
    const buf = Buffer.from(s as string, 'base64');
    return [...new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4)];
  };
  const deq = (codes: unknown[], offset: number) => (codes as number[][]).map((c) => dequantize(c, offset, ranges));
  const schemes: { encoding: string; scoring: string; bytes: number; score: (qi: number, di: number) => number }[] = [];
  const b64Q = q.base64.map(b64);
  const b64D = d.base64.map(b64);
  const int8Q = q.int8 as number[][];
  const int8D = d.int8 as number[][];
  const uint8Q = q.uint8 as number[][];
  const uint8D = d.uint8 as number[][];
  const [int8DeqQ, int8DeqD, uint8DeqQ, uint8DeqD] = [deq(q.int8, 128), deq(d.int8, 128), deq(q.uint8, 0), deq(d.uint8, 0)];
  const binQ = q.binary as number[][];
  const binD = d.binary as number[][];
  const ubinQ = q.ubinary as number[][];
  const ubinD = d.ubinary as number[][];
  const binSignsD = binD.map((b) => unpackSigns(b, width, 128));
  const centered = (v: number[]) => v.map((x) => x - 128);
  const uint8QC = uint8Q.map(centered);
  const uint8DC = uint8D.map(centered);
  schemes.push(
    { encoding: 'base64', scoring: 'dot of the decoded float32', bytes: width * 4, score: (i, j) => dot(b64Q[i], b64D[j]) },
    { encoding: 'int8', scoring: 'dot of the codes', bytes: width, score: (i, j) => dot(int8Q[i], int8D[j]) },
    { encoding: 'int8', scoring: 'dot of the codes mapped back to floats', bytes: width, score: (i, j) => dot(int8DeqQ[i], int8DeqD[j]) },
    { encoding: 'uint8', scoring: 'dot of the codes minus 128', bytes: width, score: (i, j) => dot(uint8QC[i], uint8DC[j]) },
    { encoding: 'uint8', scoring: 'dot of the codes mapped back to floats', bytes: width, score: (i, j) => dot(uint8DeqQ[i], uint8DeqD[j]) },
    {
      encoding: 'binary',
      scoring: 'dimensions - 2 x Hamming distance',
      bytes: Math.ceil(width / 8),
      score: (i, j) => hammingScore(binQ[i], binD[j], 128, width),
    },
    {
      encoding: 'ubinary',
      scoring: 'dimensions - 2 x Hamming distance',
      bytes: Math.ceil(width / 8),
      score: (i, j) => hammingScore(ubinQ[i], ubinD[j], 0, width),
    },
    { encoding: 'binary', scoring: 'float query . document signs (+1/-1)', bytes: Math.ceil(width / 8), score: (i, j) => dot(floatQ[i], binSignsD[j]) },
  );
  const reference = floatQ.map((qv) => floatD.map((dv) => dot(qv, dv)));
  const rows: Scored[] = [
    {
      encoding: 'float',
      scoring: 'dot of the normalized vectors (reference)',
      bytesPerVector: width * 4,
      spearman: { mean: 1, min: 1 },
      recallAt10: { mean: 1, min: 1 },
    },
  ];
  for (const s of schemes) {
    const rhos: number[] = [];
    const recalls: number[] = [];
    for (let i = 0; i < floatQ.length; i++) {
      const scores = floatD.map((_, j) => s.score(i, j));
      rhos.push(spearman(reference[i], scores));
      const want = top10(reference[i]);
      const got = top10(scores);
      recalls.push([...got].filter((x) => want.has(x)).length / 10);
    }
    rows.push({ encoding: s.encoding, scoring: s.scoring, bytesPerVector: s.bytes, spearman: per(rhos), recallAt10: per(recalls) });
  }
  return { model, dimensions: info.dimensions, outputDimension, calibration: info.quantization, rows };
}

function markdown(report: { date: string; commit: string; machine: string; queries: number; documents: number; runs: ModelRun[] }): string {
  const f = (n: number) => n.toFixed(4);
  const lines = [
    '# Output encodings: how much retrieval ranking they keep',
    '',
    `${report.date} · commit ${report.commit} · ${report.machine}`,
    '',
    `${report.queries} queries against ${report.documents} documents (bench/texts.ts sentences, fixed seeds), embedded once through \`POST /v2/embed\` with every \`embedding_types\` from one model call; int8 / uint8 with the ranges the server calibrated at start (its built-in calibration texts). Per query, every document's score in an encoding is compared with its float score: Spearman rank correlation over all documents (mean and worst query), and recall@10 (the share of float's top 10 kept in the encoding's top 10).`,
    '',
  ];
  for (const run of report.runs) {
    const width = run.outputDimension ?? run.dimensions;
    lines.push(`## \`${run.model}\`, ${width} dimensions${run.outputDimension ? ` (output_dimension of ${run.dimensions})` : ''}`, '');
    lines.push('| encoding | scoring | bytes / vector | Spearman mean | Spearman min | recall@10 mean | recall@10 min |', '|---|---|---:|---:|---:|---:|---:|');
    for (const r of run.rows) {
      lines.push(
        `| ${r.encoding} | ${r.scoring} | ${r.bytesPerVector} | ${f(r.spearman.mean)} | ${f(r.spearman.min)} | ${f(r.recallAt10.mean)} | ${f(r.recallAt10.min)} |`,
      );
    }
    lines.push('', `Calibration: \`${JSON.stringify(run.calibration)}\``, '');
  }
  lines.push(
    '- base64 is the float32 bytes: it must match float exactly (Spearman 1, recall 1).',
    '- "codes mapped back to floats" is what the ranges allow at best; "dot of the codes" is what an int8 inner-product index computes without them (each dimension weighted by its range).',
    '- `models/default` is the embedded default model (static embeddings from GloVe vectors); the test/fixtures models have random weights: their rankings say how the encodings treat vectors of that shape, not how a trained model retrieves.',
    '- The half-width runs cut the vectors (`output_dimension`) and normalize them again; the server takes int8 / uint8 ranges from its calibration vectors cut and normalized the same way.',
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const models = flagValue('models', 'models/default,test/fixtures/tiny-bert').split(',');
  const queryCount = Number(flagValue('queries', '200'));
  const documentCount = Number(flagValue('documents', '2000'));
  const queries = texts(7, queryCount);
  const documents = texts(11, documentCount, new Set(queries));
  const runs: ModelRun[] = [];
  for (const model of models) {
    for (const run of await runModel(model, queries, documents)) {
      runs.push(run);
      console.log(`\n${model}, ${run.outputDimension ?? run.dimensions} dimensions`);
      console.table(
        run.rows.map((r) => ({
          encoding: r.encoding,
          scoring: r.scoring,
          bytes: r.bytesPerVector,
          spearman: r.spearman.mean.toFixed(4),
          'spearman min': r.spearman.min.toFixed(4),
          'recall@10': r.recallAt10.mean.toFixed(4),
          'recall@10 min': r.recallAt10.min.toFixed(4),
        })),
      );
    }
  }
  const commit = execSync('git rev-parse --short HEAD', { cwd: PROJECT_ROOT }).toString().trim();
  const machine = `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}, shared with other work) · Node ${process.version}`;
  const report = { date: new Date().toISOString(), commit, machine, queries: queries.length, documents: documents.length, runs };
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'quantization-ranking.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, 'quantization-ranking.md'), markdown(report));
  console.log(`\nwrote ${join(dir, 'quantization-ranking.{json,md}')}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
