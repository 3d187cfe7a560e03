/**
 * The few CUDA runtime calls the prototype needs when ORT's own CopyTensors cannot copy (no data
 * transfer registered with the env): libcudart.so.13, the runtime the 1.29 CUDA provider links.
 */
import type { Koffi, Ptr } from './ort-c-api.js';
import type { TypedArray } from './ort-objects.js';

/** cudaMemcpyDefault: direction from the pointers (unified addressing), whichever device is current. */
const MEMCPY_DEFAULT = 4;

/** A plain memory copy between two addresses, and a wait for the copies to land. */
export interface MemoryCopier {
  memcpy(dst: Ptr | TypedArray, src: Ptr | TypedArray, bytes: number): void;
  synchronize(): void;
}

export class CudaRuntime implements MemoryCopier {
  private readonly memcpyFn: (dst: unknown, src: unknown, bytes: number, kind: number) => number;
  private readonly syncFn: () => number;
  private readonly errorFn: (code: number) => string;

  constructor(koffi: Koffi, library = 'libcudart.so.13') {
    const lib = koffi.load(library);
    this.memcpyFn = lib.func('int cudaMemcpy(void *dst, void *src, size_t count, int kind)');
    this.syncFn = lib.func('int cudaDeviceSynchronize()');
    this.errorFn = lib.func('const char *cudaGetErrorString(int error)');
  }

  /** Synchronous for pinned host memory; from pageable memory it may return before the device has the data (see synchronize). */
  memcpy(dst: Ptr | TypedArray, src: Ptr | TypedArray, bytes: number): void {
    this.ok('cudaMemcpy', this.memcpyFn(dst, src, bytes, MEMCPY_DEFAULT));
  }

  synchronize(): void {
    this.ok('cudaDeviceSynchronize', this.syncFn());
  }

  private ok(fn: string, code: number): void {
    if (code !== 0) throw new Error(`${fn}: CUDA error ${code}: ${this.errorFn(code)}`);
  }
}

/** libc's memcpy: stands in for cudaMemcpy when the CUDA runner runs on CPU memory (check.ts --simulate-cuda-runner). */
export class HostMemcpy implements MemoryCopier {
  private readonly memcpyFn: (dst: unknown, src: unknown, bytes: number) => unknown;

  constructor(koffi: Koffi) {
    this.memcpyFn = koffi.load('libc.so.6').func('void *memcpy(void *dst, void *src, size_t count)');
  }

  memcpy(dst: Ptr | TypedArray, src: Ptr | TypedArray, bytes: number): void {
    this.memcpyFn(dst, src, bytes);
  }

  synchronize(): void {}
}
