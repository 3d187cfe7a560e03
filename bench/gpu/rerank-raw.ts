/**
 * The rerank ceiling: the server's own session workers (OrtBackend) on pre-formed batches of
 * (query, document) pairs, no HTTP and no tokenization in the timed part, `sessions` batches in
 * flight as the server keeps them. Its own process, so its CUDA context is gone before the next phase.
 *
 * usage: node rerank-raw.js <file of a JSON RawRerankTask>   -> prints `RESULT {...}` (child.ts runs it)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../../src/model-prep/manifest.js';
import { OrtBackend } from '../../src/backend/ort/ort-backend.js';
import type { EncodedText } from '../../src/core/types.js';
import { HfTokenizer } from '../../src/preprocess/tokenizer.js';
import { childPayload } from './child.js';

export interface RawRerankTask {
  model: string;
  onnxFile: string;
  device: string;
  sessions: number;
  /** Pairs per model call: the served run's mean batch size. */
  batchSize: number;
  seconds: number;
}

const task = childPayload<RawRerankTask>();
const manifest = readManifest(task.model, { onnxFile: task.onnxFile });
const tokenizer = HfTokenizer.fromFiles(manifest.tokenizerPath, manifest.tokenizerConfigPath, manifest.maxLength);
const work = JSON.parse(readFileSync(join(task.model, 'rerank.json'), 'utf8')) as { queries: string[]; documents: string[][] };
const pairs: EncodedText[] = work.queries.flatMap((q, i) => work.documents[i].map((d) => tokenizer.encodePair([q, d], { truncate: true, direction: 'right' })));
const batches: EncodedText[][] = [];
for (let at = 0; at + task.batchSize <= pairs.length; at += task.batchSize) batches.push(pairs.slice(at, at + task.batchSize));

const backend = await OrtBackend.start('bench', manifest, {
  device: task.device,
  intraOpThreads: 0,
  sessions: task.sessions,
  shapeBuckets: 'auto',
  warmupTokens: 65536,
  warmupRows: 256,
});
let next = 0;
let done = 0;
const take = () => batches[next++ % batches.length];
// One warm pass over every batch shape, then the timed window.
for (const b of batches) await backend.embed({ inputs: b });
const started = performance.now();
const until = started + task.seconds * 1000;
await Promise.all(
  Array.from({ length: backend.maxConcurrentBatches }, async () => {
    while (performance.now() < until) {
      const b = take();
      await backend.embed({ inputs: b });
      done += b.length;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
await backend.close();
console.log(
  `RESULT ${JSON.stringify({ pairsPerS: done / seconds, batches: batches.length, batchSize: task.batchSize, sessions: backend.maxConcurrentBatches })}`,
);
