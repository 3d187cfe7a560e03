/**
 * Whether a failed model call ran out of memory: ONNX Runtime's CPU arena and CUDA allocator
 * messages, cuDNN/cuBLAS allocation statuses, and the C++ bad_alloc they may surface as. A batch
 * that fails this way is worth splitting; other failures are not.
 */
const OOM_PATTERNS = [
  /out of memory/i,
  /failed to allocate memory/i,
  /\bbad_alloc\b/i,
  /cudaErrorMemoryAllocation/i,
  /CUDNN_STATUS_ALLOC_FAILED/i,
  /CUBLAS_STATUS_ALLOC_FAILED/i,
  /\bOOM\b/,
];

export function isOutOfMemory(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return OOM_PATTERNS.some((p) => p.test(message));
}
