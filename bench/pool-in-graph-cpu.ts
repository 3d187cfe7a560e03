/**
 * CPU A/B: pooling appended to the graph (default) vs the token states [B, S, D] copied out and
 * pooled on the host (--pool-in-graph false), on the MiniLM-shaped random BERT (bench/models),
 * same batches, runs interleaved so load from other processes hits both alike.
 *
 * usage: npm run build && node dist/bench/pool-in-graph-cpu.js   -> bench/results/pool-in-graph-cpu.{json,md}
 */
import { writeFileSync } from 'node:fs';
import { readManifest } from '../src/model-prep/manifest.js';
import { OrtBackend } from '../src/backend/ort/ort-backend.js';
import type { EncodedText } from '../src/core/types.js';
import { ensureMidBert } from './models/mid-bert.js';

const ROUNDS = 4;
const BATCHES = [
  { texts: 32, tokens: 128 },
  { texts: 8, tokens: 32 },
  { texts: 1, tokens: 16 },
];

function batch(texts: number, tokens: number, seed: number): EncodedText[] {
  return Array.from({ length: texts }, (_, i) => ({
    ids: Uint32Array.from({ length: tokens }, (_, t) => (t === 0 ? 101 : t === tokens - 1 ? 102 : 1000 + ((seed * 31 + i * 7 + t * 13) % 20000))),
  }));
}

async function main(): Promise<void> {
  const dir = ensureMidBert();
  const manifest = readManifest(dir);
  const inGraph = await OrtBackend.start('mid', manifest, { device: 'cpu', intraOpThreads: 0, poolInGraph: true });
  const onHost = await OrtBackend.start('mid', manifest, { device: 'cpu', intraOpThreads: 0, poolInGraph: false });
  const rows: Record<string, unknown>[] = [];
  for (const shape of BATCHES) {
    const inputs = batch(shape.texts, shape.tokens, 1);
    const reps = Math.max(3, Math.round(4096 / (shape.texts * shape.tokens)));
    const time = async (b: OrtBackend) => {
      const t = performance.now();
      for (let i = 0; i < reps; i++) await b.embed({ inputs });
      return (performance.now() - t) / reps;
    };
    await time(inGraph);
    await time(onHost);
    const a: number[] = [];
    const h: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(await time(inGraph));
      h.push(await time(onHost));
    }
    const best = (xs: number[]) => Math.min(...xs);
    const row = { batch: `${shape.texts} x ${shape.tokens}`, inGraphMs: best(a), onHostMs: best(h), ratio: best(h) / best(a) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await Promise.all([inGraph.close(), onHost.close()]);
  const md = [
    '# Pooling in the graph vs on the host, CPU (MiniLM-L6 shape, random weights)',
    '',
    `Best of ${ROUNDS} interleaved rounds, ms per batch (${new Date().toISOString()}).`,
    '',
    '| batch | in graph ms | on host ms | host / graph |',
    '| --- | --- | --- | --- |',
    ...rows.map((r: any) => `| ${r.batch} | ${r.inGraphMs.toFixed(2)} | ${r.onHostMs.toFixed(2)} | ${r.ratio.toFixed(2)} |`),
  ];
  writeFileSync('bench/results/pool-in-graph-cpu.json', JSON.stringify(rows, null, 1));
  writeFileSync('bench/results/pool-in-graph-cpu.md', md.join('\n') + '\n');
  console.log(md.join('\n'));
}

void main();
