import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where tests keep the embedded default model: outside the checkout, and shared by the test
 * files (and runs) of this machine, so the ~10 s conversion happens once, not per file.
 * ensureDefaultModel reconverts it when it is incomplete or from another format version.
 */
export const TEST_DEFAULT_MODEL_DIR = join(tmpdir(), 'coalesce-test-default-model');

/** For the hook that may convert it: the conversion alone can take a minute on a busy 2-core machine. */
export const DEFAULT_MODEL_CONVERSION_TIMEOUT_MS = 240_000;
