import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: the nearest folder above this file holding package.json (works from src/ and from dist/src/). */
function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the project root (no package.json above ' + fileURLToPath(import.meta.url) + ')');
    dir = parent;
  }
  return dir;
}

export const PROJECT_ROOT = findProjectRoot();
export const PROTO_DIR = join(PROJECT_ROOT, 'proto');
export const MODELS_DIR = join(PROJECT_ROOT, 'models');
export const DEFAULT_MODEL_DIR = join(MODELS_DIR, 'default');
