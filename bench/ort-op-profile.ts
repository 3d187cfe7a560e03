/**
 * Where a graph's time goes, by operator: ONNX Runtime's own profiler (one session, CPU, the
 * server's session options) over repeated runs of one padded batch of BERT-style inputs.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { EncodedText } from '../src/core/types.js';

export interface OpProfile {
  /** Kernel time of one run, summed over its nodes (ms). */
  kernelMsPerRun: number;
  /** Share of that time by operator, largest first. */
  ops: { op: string; share: number }[];
}

function feeds(batch: readonly EncodedText[]): Record<string, ort.Tensor> {
  const rows = batch.length;
  const seq = Math.max(...batch.map((t) => t.ids.length));
  const ids = new BigInt64Array(rows * seq);
  const mask = new BigInt64Array(rows * seq);
  batch.forEach((t, r) => t.ids.forEach((id, c) => ((ids[r * seq + c] = BigInt(id)), (mask[r * seq + c] = 1n))));
  const dims = [rows, seq];
  return {
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(rows * seq), dims),
  };
}

export async function profileOps(graph: string, batch: readonly EncodedText[], runs: number, threads: number): Promise<OpProfile> {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-ort-profile-'));
  try {
    const session = await ort.InferenceSession.create(graph, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
      extra: { session: { intra_op: { allow_spinning: '0' } } },
      enableProfiling: true,
      profileFilePrefix: join(dir, 'profile'),
    });
    const input = feeds(batch);
    await session.run(input); // first run: allocations, not profiled separately but small next to the rest
    for (let i = 0; i < runs; i++) await session.run(input);
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('ONNX Runtime wrote no profile');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat?: string; name?: string; dur?: number; args?: { op_name?: string } }[];
    const byOp = new Map<string, number>();
    let total = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name) continue;
      byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + (e.dur ?? 0));
      total += e.dur ?? 0;
    }
    return {
      kernelMsPerRun: total / (runs + 1) / 1000,
      ops: [...byOp].map(([op, us]) => ({ op, share: us / total })).sort((a, b) => b.share - a.share),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
