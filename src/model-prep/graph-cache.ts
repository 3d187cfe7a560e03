/**
 * Where prepared graphs (rewritten towers, measured logit parameters) are kept between starts:
 * one file per source graph and preparation, keyed by the source's path, size and time, so a
 * changed source or a changed preparation never reuses a stale file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** COALESCE_GRAPH_CACHE, else a folder under the system's temporary directory. */
export function defaultCacheDir(): string {
  return process.env.COALESCE_GRAPH_CACHE ?? join(tmpdir(), 'coalesce-graphs');
}

/** The cache file for `source` prepared as `what` (a description of the preparation, part of the key). */
export function cachePath(cacheDir: string, source: string, what: string, ext: 'onnx' | 'json' = 'onnx'): string {
  const st = statSync(source);
  const key = createHash('sha256').update(`${source}|${st.size}|${st.mtimeMs}|${what}|v1`).digest('hex').slice(0, 24);
  return join(cacheDir, `${key}.${ext}`);
}

/** Writes `path` unless it exists, through a temporary file so a concurrent reader never sees half of it. */
export function writeOnce(path: string, make: () => Uint8Array | string): string {
  if (existsSync(path)) return path;
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, make());
  renameSync(tmp, path);
  return path;
}
