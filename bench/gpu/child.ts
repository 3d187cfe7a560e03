/**
 * Runs one of this folder's scripts in its own Node process with a JSON payload, and reads back
 * the `RESULT {...}` line it prints (raw sessions, load generator shards). A child that dies or
 * overruns gives { error } instead, so one failure does not lose a whole report.
 *
 * The payload travels in a file named on the command line: a raw-session child whose command
 * line was over ~14 kB (thousands of replayed batch sizes) died of a segmentation fault at start.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** In the child: the payload runChild gave it. */
export function childPayload<T>(): T {
  return JSON.parse(readFileSync(process.argv[2], 'utf8')) as T;
}

export function runChild(script: string, payload: unknown, timeoutMs: number): Promise<any> {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-child-'));
  const file = join(dir, 'payload.json');
  writeFileSync(file, JSON.stringify(payload));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, script), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      try {
        resolve(line ? JSON.parse(line.slice(7)) : { error: `exit ${code ?? signal}: ${err.slice(-1500)}` });
      } catch (e) {
        resolve({ error: `exit ${code ?? signal}: unreadable result (${(e as Error).message}, ${out.length} bytes)` });
      }
    });
  });
}
