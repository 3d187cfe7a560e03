/**
 * `--cuda-graphs on`: a CUDA text session's small batches replayed from CUDA graphs. onnxruntime-node
 * 1.29 cannot reach ORT's CUDA graphs (its binding gives the CUDA provider only a device id and has
 * no IO binding to device memory), so the session thread opens a second session of the same graph
 * through ORT's C API (ort-capi/) with `enable_cuda_graph=1`, binds each bucket shape of up to
 * --cuda-graph-tokens padded tokens to fixed buffers and captures it at load: lone requests and the
 * small batches where kernel launches, not compute, set a run's time. A batch of one of those
 * shapes then runs as one graph launch (BERT-base fp16, one short text on an H100: 0.62 ms in the
 * session thread against 1.8 ms, W3 p50 1.13 ms over HTTP, bench/results/latency-breakdown-gpu-graphs-on.md);
 * every other batch goes through onnxruntime-node as before. The cost: a second copy of the
 * weights on the device, per session thread. Captures hold the process's DeviceCallLock alone.
 */
import { dirname, join } from 'node:path';
import { BoundRunner } from '../ort-capi/bound-runner.js';
import { OrtCApi, onnxruntimeNodeLibrary } from '../ort-capi/ort-c-api.js';
import { CudaProviderOptions, Env, Session, SessionOptions } from '../ort-capi/ort-objects.js';
import type { PaddedInputs } from './tensors.js';

export interface GraphLaneSpec {
  /** The served graph: its bytes when rewritten in memory, else its file. */
  model: Uint8Array | string;
  deviceId: number;
  /** The outputs a batch fetches (float32 [rows, D]), in order. */
  outputs: string[];
  /** 'cpu-simulation': the same buffers, bindings and copies on CPU memory, without graphs (tests). */
  mode: 'cuda' | 'cpu-simulation';
}

/**
 * How a replayed graph's rows differ from session.run's for the first `expected.length` values, or
 * null when they agree: the same kernels run both ways (the H100 check found no difference at all),
 * so anything past 1e-3 of the largest value means the replay read stale inputs or shapes.
 */
export function replayDifference(expected: Float32Array, got: Float32Array): string | null {
  let worst = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(expected[i] - got[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return worst <= 1e-3 * scale ? null : `max abs difference ${worst.toExponential(2)}`;
}

const FEEDS: Record<string, keyof PaddedInputs> = {
  input_ids: 'ids',
  attention_mask: 'mask',
  token_type_ids: 'typeIds',
  position_ids: 'positions',
};

export class CudaGraphLane {
  private constructor(
    private readonly env: Env,
    private readonly session: Session,
    private readonly runner: BoundRunner,
    private readonly inputs: string[],
  ) {}

  /** Throws (ORT's message) when the graph cannot be captured, e.g. when some of its nodes stay on the CPU. */
  static open(spec: GraphLaneSpec): CudaGraphLane {
    const library = onnxruntimeNodeLibrary();
    const api = OrtCApi.shared(library);
    const env = Env.create(api);
    const onGpu = spec.mode === 'cuda';
    const cuda = onGpu ? CudaProviderOptions.create(api, { device_id: String(spec.deviceId), enable_cuda_graph: '1' }) : null;
    const options = SessionOptions.create(api, { graphOptimization: 'all', intraOpThreads: 1, interOpThreads: 1, ...(cuda ? { cuda } : {}) });
    let session: Session | null = null;
    try {
      session = typeof spec.model === 'string' ? Session.create(api, env, spec.model, options) : Session.fromBytes(api, env, spec.model, options);
      const inputs = session.inputs.map((i) => i.name);
      const unknown = inputs.filter((n) => !(n in FEEDS));
      if (unknown.length > 0) throw new Error(`inputs it cannot feed: ${unknown.join(', ')}`);
      const runner = new BoundRunner(api, env, session, {
        deviceId: spec.deviceId,
        graphs: onGpu,
        copy: onGpu ? 'auto' : 'libc',
        providerLibrary: onGpu ? join(dirname(library), 'libonnxruntime_providers_cuda.so') : '',
        outputs: spec.outputs,
        ...(onGpu ? {} : { memory: { device: 'Cpu', host: 'Cpu' } }),
      });
      return new CudaGraphLane(env, session, runner, inputs);
    } catch (e) {
      session?.release();
      env.release();
      throw e;
    } finally {
      options.release();
      cuda?.release();
    }
  }

  /** Binds and captures the shape of `padded` (ORT captures on the first runs of a graph id). */
  capture(padded: PaddedInputs): void {
    for (let i = 0; i < 2; i++) this.run(padded, true);
  }

  /** The outputs for `padded`, fresh arrays; null when its shape was not captured (`force` binds it). */
  run(padded: PaddedInputs, force = false): Float32Array[] | null {
    const { rows, seqLen } = padded;
    if (!force && !this.runner.has(rows, seqLen)) return null;
    const { inputs } = this.runner.shape(rows, seqLen);
    for (const name of this.inputs) {
      const target = inputs.get(name)!;
      (target as BigInt64Array).set(padded[FEEDS[name]] as BigInt64Array);
    }
    return this.runner.run(rows, seqLen).map((out) => out.slice());
  }

  /** Shapes bound (and on a GPU captured). */
  get shapes(): number {
    return this.runner.shapeCount;
  }

  close(): void {
    this.runner.close();
    this.session.release();
    this.env.release();
  }
}
