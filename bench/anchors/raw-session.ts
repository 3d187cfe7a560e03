/**
 * The ceiling anchor: the bare ORT session (onnxruntime-node 1.29.0, the server's thread
 * options, pool spinning on or off) on batches formed ahead of time the way the batcher would at
 * best: the workload's texts sorted by length, cut into batches of N, padded like the server pads
 * (padBatch), feeds built beforehand. Only session.run + pooling is timed.
 */
import * as ort from 'onnxruntime-node';
import { poolTokens } from '../../src/core/pooling.js';
import { padBatch, type IntegerType } from '../../src/backend/ort/tensors.js';
import type { EncodedText } from '../../src/core/types.js';
import { cpuShares, cpuSnapshot, type CpuShares } from '../cpu-usage.js';
import { rng } from '../texts.js';
import { modelWorkload, type WorkloadSpec } from '../workload.js';
import { anchorMain } from './child.js';

export interface RawInit extends WorkloadSpec {
  model: string;
  intraOpThreads: number;
  maxBatchTokens: number;
}

export interface RawPhase {
  batchSize: number;
  /** ORT's intra-op pool busy-waits between parallel sections (its default); the server turns it off. */
  spinning: boolean;
  warmupS: number;
  durationS: number;
}

export interface RawInfo {
  ortVersion: string;
  outputName: string;
  outputKind: 'pooled' | 'token';
}

export interface RawBatchResult {
  batchSize: number;
  spinning: boolean;
  batches: number;
  texts: number;
  textsPerS: number;
  tokensPerS: number;
  msPerBatch: number;
  /** Real tokens / padded tokens of the batches run. */
  paddingEfficiency: number;
  cpu: CpuShares;
}

export interface RawResult extends RawInfo {
  /** Per batch size: the median round. */
  results: RawBatchResult[];
}

const POOLED_OUTPUTS = ['sentence_embedding', 'sentence_embeddings', 'text_embeds', 'embeddings'];

interface Prepared {
  feeds: Record<string, ort.Tensor>;
  lengths: Uint32Array;
  seqLen: number;
  tokens: number;
}

/** Sorted by length, cut into batches of `size` that also fit the token budget. */
export function formBatches(encoded: readonly EncodedText[], size: number, maxBatchTokens: number): EncodedText[][] {
  const sorted = [...encoded].sort((a, b) => a.ids.length - b.ids.length);
  const batches: EncodedText[][] = [];
  let current: EncodedText[] = [];
  for (const e of sorted) {
    // Sorted ascending, so e is the longest of the batch if it joins.
    if (current.length >= size || (current.length + 1) * e.ids.length > maxBatchTokens) {
      batches.push(current);
      current = [];
    }
    current.push(e);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function shuffle<T>(items: T[], r: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

async function init(args: RawInit): Promise<{ info: RawInfo; run: (phase: RawPhase) => Promise<RawBatchResult> }> {
  const workload = modelWorkload(args.model, args);
  const create = (spinning: boolean) =>
    ort.InferenceSession.create(workload.manifest.onnxPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      ...(args.intraOpThreads > 0 ? { intraOpNumThreads: args.intraOpThreads } : {}),
      ...(spinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
    });
  // One session per spinning mode, made on first use; only one runs at a time.
  const sessions = new Map<boolean, ort.InferenceSession>([[false, await create(false)]]);
  const session = sessions.get(false)!;
  const inputs = session.inputNames;
  const idMeta = session.inputMetadata.find((m) => m.name === 'input_ids');
  const intType: IntegerType = idMeta?.isTensor && idMeta.type === 'int32' ? 'int32' : 'int64';
  const pooledName = POOLED_OUTPUTS.find((n) => session.outputNames.includes(n));
  const outputName = pooledName ?? session.outputNames[0];
  const outputKind: 'pooled' | 'token' = pooledName ? 'pooled' : 'token';

  const prepare = (batch: EncodedText[]): Prepared => {
    const lengths = Uint32Array.from(batch, (e) => e.ids.length);
    const total = lengths.reduce((a, b) => a + b, 0);
    const ids = new Uint32Array(total);
    const typeIds = new Uint8Array(total);
    let at = 0;
    for (const e of batch) {
      ids.set(e.ids, at);
      if (e.typeIds) typeIds.set(e.typeIds, at);
      at += e.ids.length;
    }
    const padded = padBatch(ids, typeIds, lengths, intType, { positions: inputs.includes('position_ids') });
    const shape = [batch.length, padded.seqLen];
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor(intType, padded.ids, shape) };
    if (inputs.includes('attention_mask')) feeds.attention_mask = new ort.Tensor(intType, padded.mask, shape);
    if (inputs.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor(intType, padded.typeIds, shape);
    if (inputs.includes('position_ids')) feeds.position_ids = new ort.Tensor(intType, padded.positions, shape);
    return { feeds, lengths, seqLen: padded.seqLen, tokens: total };
  };

  const runOne = async (s: ort.InferenceSession, p: Prepared): Promise<Float32Array> => {
    const out = (await s.run(p.feeds, [outputName]))[outputName];
    const data = out.data as Float32Array;
    if (outputKind === 'pooled') return data;
    return poolTokens(workload.manifest.pooling, data, p.lengths, out.dims[1], out.dims[2]);
  };

  const formed = new Map<number, Prepared[]>();
  const run = async ({ batchSize: size, spinning, warmupS, durationS }: RawPhase): Promise<RawBatchResult> => {
    let s = sessions.get(spinning);
    if (!s) sessions.set(spinning, (s = await create(spinning)));
    let prepared = formed.get(size);
    if (!prepared) {
      // Formed sorted, run shuffled: any prefix of the run is then a fair sample of lengths.
      prepared = shuffle(formBatches(workload.encoded, size, args.maxBatchTokens).map(prepare), rng(args.seed));
      formed.set(size, prepared);
    }
    // Warm-up: a few batch shapes at least, so ORT has planned its allocations.
    const warmEnd = performance.now() + warmupS * 1000;
    for (let i = 0; i < prepared.length && (i < 3 || performance.now() < warmEnd); i++) await runOne(s, prepared[i]);
    let texts = 0;
    let tokens = 0;
    let padded = 0;
    let batches = 0;
    const cpuBefore = cpuSnapshot([process.pid]);
    const start = performance.now();
    const end = start + durationS * 1000;
    for (let i = 0; performance.now() < end; i = (i + 1) % prepared.length) {
      const p = prepared[i];
      await runOne(s, p);
      texts += p.lengths.length;
      tokens += p.tokens;
      padded += p.lengths.length * p.seqLen;
      batches++;
    }
    const elapsedS = (performance.now() - start) / 1000;
    const cpu = cpuShares(cpuBefore, cpuSnapshot([process.pid]), { ort: process.pid });
    return {
      batchSize: size,
      spinning,
      batches,
      texts,
      textsPerS: texts / elapsedS,
      tokensPerS: tokens / elapsedS,
      msPerBatch: (elapsedS * 1000) / batches,
      paddingEfficiency: tokens / padded,
      cpu,
    };
  };
  const ortVersion = ort.env.versions.node ?? ort.env.versions.common;
  return { info: { ortVersion, outputName, outputKind }, run };
}

if (process.argv[1]?.endsWith('raw-session.js')) anchorMain(init);
