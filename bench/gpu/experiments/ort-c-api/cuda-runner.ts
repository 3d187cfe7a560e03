/**
 * The server's bound runner (src/backend/ort-capi/bound-runner.ts) behind the prototype's Runner
 * interface: token rows in, the model's first output out. On a GPU: device buffers per shape, pinned
 * staging, and with `graphs` one CUDA graph per shape; with `memory` 'Cpu' the same bookkeeping on
 * a CPU session.
 */
import { BoundRunner, type BoundRunnerOptions } from '../../../../src/backend/ort-capi/bound-runner.js';
import type { OrtCApi } from '../../../../src/backend/ort-capi/ort-c-api.js';
import type { Env, Session } from '../../../../src/backend/ort-capi/ort-objects.js';
import type { Runner } from './cpu-runner.js';
import { fillInput, type ModelIo, padLength, type Rows } from './model-io.js';

export type { CopyMode } from '../../../../src/backend/ort-capi/bound-runner.js';

export class CudaBoundRunner implements Runner {
  readonly label: string;
  private readonly bound: BoundRunner;

  constructor(
    api: OrtCApi,
    env: Env,
    session: Session,
    private readonly io: ModelIo,
    options: Omit<BoundRunnerOptions, 'outputs'> & { label: string },
  ) {
    this.bound = new BoundRunner(api, env, session, { ...options, outputs: [io.output.name] });
    this.label = options.label;
  }

  get copyMode() {
    return this.bound.copyMode;
  }
  get notes() {
    return this.bound.notes;
  }
  get hostMemory() {
    return this.bound.hostMemory;
  }
  get phases() {
    return this.bound.phases;
  }
  resetPhases(): void {
    this.bound.resetPhases();
  }

  run(rows: Rows): Float32Array {
    const length = padLength(rows);
    const { inputs } = this.bound.shape(rows.length, length);
    for (const input of this.io.inputs) fillInput(input, inputs.get(input.name)!, rows, length);
    return this.bound.run(rows.length, length)[0];
  }

  close(): void {
    this.bound.close();
  }
}
