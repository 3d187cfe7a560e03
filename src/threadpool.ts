/**
 * Sizes libuv's thread pool before anything uses it. sharp decodes images on that pool, which
 * has 4 threads unless told otherwise: 4 decodes at a time on a 16-core GPU host. Imported first
 * by main.ts; an explicit UV_THREADPOOL_SIZE wins (the GPU image benchmark ran with 16).
 */
import { availableParallelism } from 'node:os';

process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
