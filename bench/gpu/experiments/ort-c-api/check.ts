/**
 * Checks the C API path (koffi) against onnxruntime-node on the same model and token rows, in one
 * process beside it, then times one short text on both.
 *
 *   node dist/bench/gpu/experiments/ort-c-api/check.js [--device cpu|cuda] [--model test/fixtures/tiny-bert/model.onnx]
 *     [--runs 2000] [--warmup 200] [--rounds 10] [--threads 1] [--shapes 8,32] [--text "..."] [--device-id 0]
 *     [--copy auto|ort|cudart] [--tol 1e-5 (cpu), 1e-2 (cuda)] [--order node-first|capi-first] [--lib libonnxruntime.so.1]
 *     [--simulate-cuda-runner] [--out bench/results] [--name ort-c-api-<device>] [--commit sha] [--note text]
 *
 * 1. Outputs of every path equal onnxruntime-node's within --tol for the short text and each
 *    --shapes length (two different rows per shape, then the first again: a bound buffer or a
 *    captured CUDA graph must read the new ids every run), and for a padded batch of two on CPU.
 * 2. Bad input gives an Error naming the problem (ORT's message where ORT finds it) and the process
 *    goes on: the path still answers correctly afterwards.
 * 3. Latency of one call for the short text, paths interleaved (timing.ts).
 * On CUDA: onnxruntime-node, the C API with IoBinding to device buffers, and the same with
 * enable_cuda_graph=1 (one graph per shape through the run config entry gpu_graph_id).
 * Exits 1 when a check fails. Writes <out>/<name>.{json,md}.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from '../../../../src/paths.js';
import { HfTokenizer } from '../../../../src/preprocess/tokenizer.js';
import { flagValue } from '../../../args.js';
import { runMeta } from '../../../run-meta.js';
import { CpuBoundRunner, type Runner } from './cpu-runner.js';
import { OrtNodeFresh, OrtNodeReused } from './ort-node-paths.js';
import { type CopyMode, CudaBoundRunner } from './cuda-runner.js';
import { modelIo, type Rows } from './model-io.js';
import { OrtCApi, onnxruntimeNodeLibrary } from '../../../../src/backend/ort-capi/ort-c-api.js';
import {
  CudaProviderOptions,
  Env,
  IoBinding,
  MemoryInfo,
  newTypedArray,
  Session,
  SessionOptions,
  Tensor,
} from '../../../../src/backend/ort-capi/ort-objects.js';
import { markdown, type CheckReport, type ErrorCase, type ShapeCheck } from './report.js';
import { type TimedPath, timeInterleaved } from './timing.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => flagValue(name, fallback, argv);
const DEVICE = flag('device', 'cpu');
if (DEVICE !== 'cpu' && DEVICE !== 'cuda') throw new Error(`--device ${DEVICE}: cpu or cuda`);
const MODEL = resolve(flag('model', 'test/fixtures/tiny-bert/model.onnx'));
const RUNS = Number(flag('runs', '2000'));
const WARMUP = Number(flag('warmup', '200'));
const ROUNDS = Number(flag('rounds', '10'));
const THREADS = Number(flag('threads', '1'));
const DEVICE_ID = Number(flag('device-id', '0'));
const COPY = flag('copy', 'auto') as CopyMode;
const TOL = Number(flag('tol', DEVICE === 'cpu' ? '1e-5' : '1e-2'));
const SHAPES = flag('shapes', '8,32').split(',').filter(Boolean).map(Number);
const OUT = flag('out', 'bench/results');
const NAME = flag('name', `ort-c-api-${DEVICE}`);
const TEXT = flag('text', 'what is the weather like in paris today and tomorrow morning');
const LIBRARY = flag('lib', onnxruntimeNodeLibrary());
/** Which makes ORT's process-wide env first: onnxruntime-node (as a server adding this path would meet it) or the C API. */
const ORDER = flag('order', 'node-first');
/** CPU: also check the CUDA runner's bookkeeping on CPU memory (not timed). */
const SIMULATE_CUDA = argv.includes('--simulate-cuda-runner');
if (ORDER !== 'node-first' && ORDER !== 'capi-first') throw new Error(`--order ${ORDER}: node-first or capi-first`);

/** Token rows: the short text, and per extra length two different rows of it (the text's tokens repeated, cut, [SEP] kept). */
function tokenRows(): { text: number[]; byLength: Map<number, [number[], number[]]> } {
  const dir = dirname(MODEL);
  let text: number[];
  if (existsSync(join(dir, 'tokenizer.json'))) {
    const config = join(dir, 'tokenizer_config.json');
    const tok = HfTokenizer.fromFiles(join(dir, 'tokenizer.json'), existsSync(config) ? config : null, 512);
    text = Array.from(tok.encode(TEXT, { truncate: true, direction: 'right' }).ids);
  } else {
    text = [101, ...Array.from({ length: 10 }, (_, i) => 2000 + 37 * i), 102];
  }
  const [cls, sep, body] = [text[0], text[text.length - 1], text.slice(1, -1)];
  const byLength = new Map<number, [number[], number[]]>();
  for (const n of [text.length, ...SHAPES]) {
    const fill = (src: number[]) => Array.from({ length: n - 2 }, (_, i) => src[i % src.length]);
    byLength.set(n, [
      [cls, ...fill(body), sep],
      [cls, ...fill([...body].reverse()), sep],
    ]);
  }
  return { text, byLength };
}

/** A path inside the project as a relative one, so reports read the same from any checkout. */
function shown(path: string): string {
  const r = relative(PROJECT_ROOT, path);
  return r.startsWith('..') || isAbsolute(r) ? path : r;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function main(): Promise<void> {
  const meta = runMeta(argv);
  const failures: string[] = [];
  const nodeSessionOf = async () => {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(MODEL, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: THREADS,
      executionProviders: DEVICE === 'cuda' ? [{ name: 'cuda', deviceId: DEVICE_ID }] : ['cpu'],
    });
    return { ort, session };
  };
  const early = ORDER === 'node-first' ? await nodeSessionOf() : null;
  const api = new OrtCApi(LIBRARY);
  const { buildInfo } = api.checkApiTable();
  console.error(`ONNX Runtime ${api.version} (${LIBRARY}), C API version table checked; ${buildInfo}`);
  const env = Env.create(api);
  const { ort, session: nodeSession } = early ?? (await nodeSessionOf());
  const sessions: Session[] = [];
  const runners: Runner[] = [];
  const newSession = (cudaOptions: Record<string, string> | null): Session => {
    const cuda = cudaOptions ? CudaProviderOptions.create(api, cudaOptions) : null;
    const options = SessionOptions.create(api, { graphOptimization: 'all', intraOpThreads: THREADS, ...(cuda ? { cuda } : {}) });
    try {
      const s = Session.create(api, env, MODEL, options);
      sessions.push(s);
      return s;
    } finally {
      options.release();
      cuda?.release();
    }
  };

  const first = newSession(DEVICE === 'cuda' ? { device_id: String(DEVICE_ID) } : null);
  const io = modelIo(first.inputs, first.outputs);
  const nodeNames = [...nodeSession.inputNames].sort().join(',');
  const ourNames = io.inputs.map((i) => i.name).sort();
  if (nodeNames !== ourNames.join(',')) failures.push(`input names differ: onnxruntime-node ${nodeNames}, C API ${ourNames.join(',')}`);
  const nodePath = new OrtNodeFresh(ort, nodeSession, io);
  const nodeReused = new OrtNodeReused(ort, nodeSession, io);
  const cudaRunners: CudaBoundRunner[] = [];
  const simulated: CudaBoundRunner[] = [];
  if (DEVICE === 'cpu') {
    runners.push(new CpuBoundRunner(api, first, io));
    // Staging from the session's allocator (as from CudaPinned) and, where it has none (CudaPinned on a CPU session), in JS memory.
    if (SIMULATE_CUDA) {
      for (const host of ['Cpu', 'CudaPinned']) {
        const r = new CudaBoundRunner(api, env, first, io, {
          deviceId: 0,
          graphs: true,
          copy: 'libc',
          providerLibrary: '',
          label: `CUDA runner on CPU memory, ${host === 'Cpu' ? 'allocator' : 'JS'} staging (simulation, not timed)`,
          memory: { device: 'Cpu', host },
        });
        simulated.push(r);
      }
    }
  } else {
    // A path that cannot be set up (a graph session ORT refuses, an allocator it lacks) is a failure, not the end of the run.
    const providerLibrary = join(dirname(LIBRARY), 'libonnxruntime_providers_cuda.so');
    const cudaPath = (label: string, graphs: boolean) => {
      try {
        const session = graphs ? newSession({ device_id: String(DEVICE_ID), enable_cuda_graph: '1' }) : first;
        cudaRunners.push(new CudaBoundRunner(api, env, session, io, { deviceId: DEVICE_ID, graphs, copy: COPY, providerLibrary, label }));
      } catch (e) {
        failures.push(`${label}: ${(e as Error).message.split('\n')[0]}`);
      }
    };
    cudaPath('C API, IoBinding to device buffers', false);
    cudaPath('C API, IoBinding + CUDA graph per shape', true);
    runners.push(...cudaRunners);
  }

  // 1. Outputs equal onnxruntime-node's.
  const { text, byLength } = tokenRows();
  const shapeChecks: ShapeCheck[] = [];
  /** Paths whose run threw: left out of what follows. */
  const broken = new Set<{ label: string }>();
  const cases: [string, Rows[]][] = [...byLength].map(([n, [a, b]]) => [`1 x ${n}`, [[a], [b], [a]]]);
  if (DEVICE === 'cpu') cases.push([`2 x ${text.length} (second row padded)`, [[text, text.slice(0, 5).concat(text[text.length - 1])]]]);
  for (const [shape, feeds] of cases) {
    const refs: Float32Array[] = [];
    for (const rows of feeds) refs.push(await nodePath.run(rows));
    for (const path of [nodeReused, ...runners, ...simulated]) {
      if (broken.has(path)) continue;
      const diffs: number[] = [];
      try {
        for (let i = 0; i < feeds.length; i++) diffs.push(maxAbsDiff(await path.run(feeds[i]), refs[i]));
      } catch (e) {
        broken.add(path);
        failures.push(`${path.label}, ${shape}: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      const ok = diffs.every((d) => d <= TOL);
      shapeChecks.push({ shape, path: path.label, maxAbsDiff: diffs, ok });
      if (!ok) failures.push(`${path.label}, ${shape}: max abs diff ${diffs.join(', ')} > ${TOL}`);
    }
  }

  // 2. Bad input: an Error with ORT's message, the process goes on.
  const errorCases: ErrorCase[] = [];
  const cpu = MemoryInfo.cpu(api);
  const expectError = (what: string, fn: () => void) => {
    try {
      fn();
      errorCases.push({ case: what, error: null });
      failures.push(`no error for: ${what}`);
    } catch (e) {
      errorCases.push({ case: what, error: `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}` });
    }
  };
  expectError('a model file that does not exist', () => {
    const options = SessionOptions.create(api);
    try {
      Session.create(api, env, '/nonexistent/model.onnx', options).release();
    } finally {
      options.release();
    }
  });
  expectError('binding an input name the model does not have', () => {
    const b = IoBinding.create(api, first);
    const t = Tensor.overTypedArray(api, cpu, 'int64', [1, 2], newTypedArray('int64', 2));
    try {
      b.bindInput('no_such_input', t);
    } finally {
      b.release();
      t.release();
    }
  });
  expectError('an array shorter than the shape', () => Tensor.overTypedArray(api, cpu, 'int64', [1, 8], newTypedArray('int64', 4)));
  expectError('an array of the wrong element type', () => Tensor.overTypedArray(api, cpu, 'int64', [1, 4], new Int32Array(4) as never));
  expectError('an input name with a NUL character', () => {
    const b = IoBinding.create(api, first);
    const t = Tensor.overTypedArray(api, cpu, 'int64', [1], newTypedArray('int64', 1));
    try {
      b.bindInput('input_ids\0x', t);
    } finally {
      b.release();
      t.release();
    }
  });
  expectError('a run with a rank-1 input_ids', () => {
    const b = IoBinding.create(api, first);
    const tensors = io.inputs.map((i) => Tensor.overTypedArray(api, cpu, i.type, [4], newTypedArray(i.type, 4)));
    try {
      io.inputs.forEach((i, k) => b.bindInput(i.name, tensors[k]));
      b.bindOutputToDevice(io.output.name, cpu);
      first.runWithBinding(b);
    } finally {
      b.release();
      for (const t of tensors) t.release();
    }
  });
  if (DEVICE === 'cpu') {
    expectError('a token id beyond the vocabulary', () => runners[0].run([[text[0], 99_999_999, text[text.length - 1]]]));
    expectError('a CUDA allocator on a CPU session', () => first.allocator(MemoryInfo.create(api, 'Cuda', 'arena', 0, 'default')));
  }
  expectError(
    DEVICE === 'cuda'
      ? 'an unknown CUDA provider option'
      : 'CUDA provider options without the provider library (the index table reaches the CUDA entry points)',
    () => CudaProviderOptions.create(api, { no_such_option: '1' }).release(),
  );
  expectError('a tensor used after release', () => {
    const t = Tensor.overTypedArray(api, cpu, 'int64', [1], newTypedArray('int64', 1));
    t.release();
    t.dataPointer();
  });
  cpu.release();
  const live = [nodePath, nodeReused, ...runners].filter((p) => !broken.has(p));
  const reference = await nodePath.run([text]);
  for (const path of live.slice(1)) {
    try {
      const d = maxAbsDiff(await path.run([text]), reference);
      if (!(d <= TOL)) failures.push(`${path.label} after the error cases: max abs diff ${d}`);
    } catch (e) {
      failures.push(`${path.label} after the error cases: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  // What one FFI call costs by itself: a member that only reads a field (GetErrorCode of a status).
  const ffiCallNs = (() => {
    const status = api.raw('CreateStatus', 1, 'probe');
    const n = 200_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) api.raw('GetErrorCode', status);
    const ns = ((performance.now() - t) / n) * 1e6;
    api.raw('ReleaseStatus', status);
    return ns;
  })();

  // 3. Latency of one call for the short text.
  const paths: TimedPath[] = live.map((p) => ({ label: p.label, call: () => p.run([text]) }));
  console.error(`timing ${paths.length} paths: ${WARMUP} warm-up calls each, then ${RUNS} calls each in ${ROUNDS} interleaved rounds ...`);
  const warm = () => {
    for (const r of cudaRunners) r.resetPhases();
  };
  const latency = RUNS > 0 ? await timeInterleaved(paths, { warmup: WARMUP, runs: RUNS, rounds: ROUNDS, afterWarmup: warm }) : [];
  const phases = cudaRunners.map((r) => ({
    path: r.label,
    copyMode: r.copyMode,
    hostMemory: r.hostMemory,
    notes: r.notes,
    meanUs: {
      copyIn: (r.phases.copyIn / r.phases.runs) * 1000,
      run: (r.phases.run / r.phases.runs) * 1000,
      copyOut: (r.phases.copyOut / r.phases.runs) * 1000,
    },
  }));

  // Ours released; onnxruntime-node's session (same process env) still answers the same.
  for (const runner of runners) runner.close();
  for (const r of simulated) r.close();
  for (const s of sessions) s.release();
  env.release();
  const after = maxAbsDiff(await nodePath.run([text]), reference);
  if (!(after <= TOL)) failures.push(`onnxruntime-node after the C API objects were released: max abs diff ${after}`);

  const report: CheckReport = {
    ...meta,
    device: DEVICE,
    order: ORDER,
    model: shown(MODEL),
    ortVersion: api.version,
    ortApiVersion: 29,
    buildInfo,
    library: shown(LIBRARY),
    threads: THREADS,
    text: TEXT,
    textTokens: text.length,
    tolerance: TOL,
    ffiCallNs,
    shapeChecks,
    errorCases,
    latency,
    phases,
    simulation: simulated.map((r) => ({ path: r.label, copyMode: r.copyMode, hostMemory: r.hostMemory, notes: r.notes })),
    failures,
  };
  const table = markdown(report);
  console.log(table);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${NAME}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(OUT, `${NAME}.md`), table);
  await nodeSession.release();
  if (failures.length > 0) {
    console.error(`FAILED:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
