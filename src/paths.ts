import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder holding package.json at or above each start in turn; null when none has one. */
export function projectRootFrom(starts: readonly string[]): string | null {
  for (const start of starts) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, 'package.json'))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return null;
}

/**
 * The project root: the nearest folder above this file holding package.json (works from src/ and
 * from dist/src/). Where dist/ is a link into another tree (the GPU kit links it), Node loads the
 * module from its real path, which has no package.json above it: then the entry script's path as
 * it was invoked decides, or in a worker thread (started from real paths) the working directory.
 */
function findProjectRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const entry = process.argv[1] ? [dirname(resolve(process.argv[1]))] : [];
  const root = projectRootFrom([dirname(here), ...entry, process.cwd()]);
  if (!root) throw new Error(`cannot find the project root (no package.json above ${here})`);
  return root;
}

export const PROJECT_ROOT = findProjectRoot();
export const PROTO_DIR = join(PROJECT_ROOT, 'proto');
export const MODELS_DIR = join(PROJECT_ROOT, 'models');
export const DEFAULT_MODEL_DIR = join(MODELS_DIR, 'default');
