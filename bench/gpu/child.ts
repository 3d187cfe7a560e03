/**
 * Runs one of this folder's scripts in its own Node process with a JSON payload, and reads back
 * the `RESULT {...}` line it prints (raw sessions, load generator shards). A child that dies or
 * overruns gives { error } instead, so one failure does not lose a whole report.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

export function runChild(script: string, payload: unknown, timeoutMs: number): Promise<any> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, script), JSON.stringify(payload)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      try {
        resolve(line ? JSON.parse(line.slice(7)) : { error: `exit ${code}: ${err.slice(-1500)}` });
      } catch (e) {
        resolve({ error: `exit ${code}: unreadable result (${(e as Error).message}, ${out.length} bytes)` });
      }
    });
  });
}
