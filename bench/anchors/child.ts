/**
 * Each anchor runs in its own child process: transformers.js carries onnxruntime-node 1.30, which
 * cannot be loaded next to the 1.29 the raw anchor uses (the second binding fails to dlopen), and
 * a fresh process also leaves no thread pool or heap of one phase behind for the next.
 * Arguments go in as JSON on argv; the result comes back as a JSON file.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export async function runAnchor<A, R>(script: string, args: A, timeoutS = 600): Promise<R> {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-anchor-'));
  const out = join(dir, 'result.json');
  const path = fileURLToPath(new URL(`./${script}.js`, import.meta.url));
  try {
    let log = '';
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [path, JSON.stringify(args), out], { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (b: Buffer) => (log = (log + b.toString('utf8')).slice(-10_000));
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
      child.once('error', reject);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c ?? -1);
      });
    });
    if (code !== 0) throw new Error(`anchor ${script} exited with code ${code}:\n${log}`);
    return JSON.parse(readFileSync(out, 'utf8')) as R;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The child side: parses the arguments, runs, writes the result, exits (ORT threads may linger). */
export function anchorMain<A, R>(run: (args: A) => Promise<R>): void {
  const [json, out] = process.argv.slice(2);
  run(JSON.parse(json) as A).then(
    (result) => {
      writeFileSync(out, JSON.stringify(result));
      process.exit(0);
    },
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
