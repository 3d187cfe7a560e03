/**
 * ONNX Runtime's CUDA provider captures a graph in cudaStreamCaptureModeGlobal
 * (onnxruntime/core/providers/cuda/cuda_graph.cc: "cuda graph can only work with a single
 * thread"): while one thread captures, a potentially unsafe CUDA call from any other thread of the
 * process (a cudaMalloc as an arena grows, a synchronizing copy, a session being created or
 * released) fails, and the capture with it. One process owns the GPU here, with several session
 * threads and models on it, so every session thread holds this lock shared around its calls into
 * ONNX Runtime and exclusively around a capture (cuda-graph-lane.ts).
 *
 * A readers-writer lock over a SharedArrayBuffer that every session thread of the process gets
 * (processDeviceCallLock). A waiting writer stops new readers, so a capture is not put off forever
 * by the runs of busy sessions. Worker threads only: it blocks with Atomics.wait.
 */

/** Readers holding the lock, or HELD_BY_WRITER. */
const STATE = 0;
/** Writers waiting for or holding the lock. */
const WRITERS = 1;
const HELD_BY_WRITER = -1;

let processBuffer: SharedArrayBuffer | null = null;

/** The process's one lock buffer (main thread), handed to every session thread it starts. */
export function processDeviceCallLock(): SharedArrayBuffer {
  processBuffer ??= new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  return processBuffer;
}

export class DeviceCallLock {
  private readonly cells: Int32Array | null;

  /** No buffer: a lock that only runs what it is given (a thread told of no lock, as before load). */
  constructor(buffer?: SharedArrayBuffer) {
    this.cells = buffer ? new Int32Array(buffer) : null;
  }

  /** Runs `fn` (a promise's work included) while no capture runs; any number of threads at once. */
  shared<T>(fn: () => T): T {
    if (!this.cells) return fn();
    this.lockShared();
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.unlockShared();
      throw e;
    }
    if (result instanceof Promise) return result.finally(() => this.unlockShared()) as T;
    this.unlockShared();
    return result;
  }

  /** Runs `fn` (synchronous: a capture) while no other thread is in the lock. */
  exclusive<T>(fn: () => T): T {
    const c = this.cells;
    if (!c) return fn();
    Atomics.add(c, WRITERS, 1);
    for (;;) {
      const state = Atomics.compareExchange(c, STATE, 0, HELD_BY_WRITER);
      if (state === 0) break;
      Atomics.wait(c, STATE, state);
    }
    try {
      return fn();
    } finally {
      Atomics.store(c, STATE, 0);
      Atomics.notify(c, STATE);
      Atomics.sub(c, WRITERS, 1);
      Atomics.notify(c, WRITERS);
    }
  }

  private lockShared(): void {
    const c = this.cells!;
    for (;;) {
      const writers = Atomics.load(c, WRITERS);
      if (writers !== 0) {
        Atomics.wait(c, WRITERS, writers);
        continue;
      }
      const state = Atomics.load(c, STATE);
      if (state === HELD_BY_WRITER) Atomics.wait(c, STATE, state);
      else if (Atomics.compareExchange(c, STATE, state, state + 1) === state) return;
    }
  }

  private unlockShared(): void {
    const c = this.cells!;
    if (Atomics.sub(c, STATE, 1) === 1) Atomics.notify(c, STATE);
  }
}
