/**
 * The alternative anchor: what a Node user would write instead of running a server, namely one
 * @huggingface/transformers `feature-extraction` pipeline (its own onnxruntime-node, CPU, offline)
 * called once per request from the same concurrent request stream, in-process.
 */
import { mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../../src/paths.js';
import { withCpu } from '../cpu-usage.js';
import { runLoad, type LoadResult } from '../load.js';
import { modelWorkload, type WorkloadSpec } from '../workload.js';
import { anchorMain } from './child.js';

export interface TjsInit extends WorkloadSpec {
  model: string;
  intraOpThreads: number;
  /** Same as the server's sessions (ORT's pool spinning off) unless asked. */
  spinning: boolean;
}

export interface TjsPhase {
  concurrency: number;
  warmupS: number;
  durationS: number;
}

export type TjsInfo = { version: string; ortVersion: string; dimensions: number } | { skipped: string };

/** Per concurrency: the median round. */
export type TjsResult = { version: string; ortVersion: string; dimensions: number; runs: LoadResult[] } | { skipped: string };

/**
 * transformers.js wants `<localModelPath>/<id>/onnx/model.onnx`; sentence-transformers folders
 * keep model.onnx at the top. A folder of symlinks gives it its layout without copying weights.
 */
function transformersLayout(modelDir: string, onnxPath: string): { root: string; id: string } {
  const root = join(tmpdir(), `coalesce-tjs-${process.pid}`);
  const id = basename(resolve(modelDir));
  const dir = join(root, id);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const entry of readdirSync(modelDir)) {
    if (entry !== 'onnx' && !entry.endsWith('.onnx')) symlinkSync(resolve(modelDir, entry), join(dir, entry));
  }
  symlinkSync(resolve(onnxPath), join(dir, 'onnx', 'model.onnx'));
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  return { root: root + '/', id };
}

/**
 * transformers.js is a dependency of the bench package (bench/package.json), so that the server's
 * install does not carry its second onnxruntime; this file runs from dist/bench, outside that
 * package's folder, so the import is resolved from bench/ explicitly.
 */
async function importBenchDependency<T>(name: string): Promise<T> {
  const path = createRequire(join(PROJECT_ROOT, 'bench', 'package.json')).resolve(name);
  return (await import(pathToFileURL(path).href)) as T;
}

async function init(args: TjsInit): Promise<{ info: TjsInfo; run: (phase: TjsPhase) => Promise<LoadResult> }> {
  const workload = modelWorkload(args.model, args);
  const tjs = await importBenchDependency<typeof import('@huggingface/transformers')>('@huggingface/transformers');
  const { root, id } = transformersLayout(args.model, workload.manifest.onnxPath);
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = root;
  tjs.env.useBrowserCache = false;

  let extractor: Awaited<ReturnType<typeof tjs.pipeline<'feature-extraction'>>>;
  let dimensions: number;
  try {
    extractor = await tjs.pipeline('feature-extraction', id, {
      device: 'cpu',
      dtype: 'fp32',
      session_options: {
        graphOptimizationLevel: 'all',
        ...(args.intraOpThreads > 0 ? { intraOpNumThreads: args.intraOpThreads } : {}),
        ...(args.spinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
      },
    });
    const probe = await extractor(['A first probe sentence.', 'Another one'], { pooling: 'mean', normalize: true });
    if (probe.dims.length !== 2 || probe.dims[0] !== 2) throw new Error(`unexpected output shape [${probe.dims}]`);
    dimensions = probe.dims[1];
  } catch (e) {
    const skipped = `transformers.js cannot run this model: ${(e as Error).message.split('\n')[0]}`;
    return { info: { skipped }, run: () => Promise.reject(new Error(skipped)) };
  }

  const driver = {
    embed: async (texts: string[]) => {
      const out = await extractor(texts, { pooling: 'mean', normalize: true });
      if (out.dims[0] !== texts.length) throw new Error(`got ${out.dims[0]} vectors for ${texts.length} texts`);
      out.dispose();
    },
    close: () => {},
  };
  const run = async ({ concurrency, warmupS, durationS }: TjsPhase): Promise<LoadResult> => {
    const { result, cpu } = await withCpu({ 'transformers.js': process.pid }, () => runLoad(driver, workload, { concurrency, warmupS, durationS }));
    return { ...result, cpu };
  };
  const ortVersion = (tjs.env.backends.onnx as { versions?: { node?: string } } | undefined)?.versions?.node ?? '1.30 (nested)';
  return { info: { version: tjs.env.version, ortVersion, dimensions }, run };
}

if (process.argv[1]?.endsWith('transformers-js.js')) anchorMain(init);
