// Runs on `npm ci` / `npm install` in this folder (npm's `prepare`): builds dist/ and converts the
// embedded default model once, so that `npm start` only starts the server. Plain JavaScript because
// it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

function log(msg) {
  console.log(`coalesce: ${msg}`);
}

function run(args) {
  const t0 = performance.now();
  const { status, signal } = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  if (status !== 0) {
    console.error(`coalesce: \`node ${args.join(' ')}\` failed (${signal ?? `exit ${status}`})`);
    process.exit(status || 1);
  }
  return ((performance.now() - t0) / 1000).toFixed(1);
}

function resolvable(name) {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

if (resolvable('typescript')) {
  log('building dist/ (tsc)...');
  log(`built dist/ in ${run([require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'])} s`);
  log('preparing the embedded default model (models/default)...');
  run(['dist/scripts/convert-default-model.js']);
} else if (existsSync(join(ROOT, 'dist/src/main.js')) && existsSync(join(ROOT, 'models/default/model.onnx'))) {
  log('production install: serving the dist/ and models/default built before');
} else {
  // A production install (--omit=dev) has neither TypeScript nor the word vectors to build from.
  console.error(
    'coalesce: dist/ or models/default is missing and a production install (npm ci --omit=dev) cannot build them: run `npm ci` with dev dependencies once, then `npm ci --omit=dev` keeps what it built.',
  );
  process.exit(1);
}
