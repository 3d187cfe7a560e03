/** The real `coalesce` CLI in a child process, with its JSON log lines and exit, for signal tests. */
import { waitFor as waitForCondition } from './wait-for.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { TINY_BERT } from './server.js';

export interface ServerProcess {
  child: ChildProcess;
  /** http://host:port, or unix:path with --uds-path. */
  httpUrl: string;
  grpcUrl: string | null;
  /** Log lines so far, parsed. */
  logs: Array<{ message: string; [k: string]: unknown }>;
  /** Resolves with the exit code (signal-killed: null). */
  exited: Promise<number | null>;
  /** Resolves once a log line with this message appears; rejects if the process exits first or after `ms`. */
  logged(message: string, ms?: number): Promise<void>;
}

export async function startServerProcess(args: string[], startMs = 90_000): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['dist/src/main.js', '--model', TINY_BERT, '--hostname', '127.0.0.1', '--port', '0', '--grpc-port', '0', '--log-format', 'json', ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PORT: '', GRPC_PORT: '', SHUTDOWN_GRACE_MS: '', SHUTDOWN_TIMEOUT_MS: '' },
    },
  );
  const logs: ServerProcess['logs'] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        logs.push({ message: line });
      }
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const w of waiters) w();
  });
  const logged = (message: string, ms = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no '${message}' log line within ${ms} ms: ${JSON.stringify(logs.map((l) => l.message))}`)), ms);
      const check = () => {
        if (logs.some((l) => l.message === message)) done();
        else if (gone) done(new Error(`exited before logging '${message}': ${JSON.stringify(logs)}`));
      };
      const done = (e?: Error) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (e) reject(e);
        else resolve();
      };
      waiters.add(check);
      check();
    });
  try {
    await logged('listening', startMs);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const listening = logs.find((l) => l.message === 'listening')!;
  const grpc = listening.grpc as string;
  return { child, httpUrl: listening.http as string, grpcUrl: grpc === 'off' ? null : grpc, logs, exited, logged };
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request over a fresh connection to `url` (http://host:port or unix:path); no Host header rules bent. */
export function httpCall(url: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<RawReply> {
  const where = url.startsWith('unix:') ? { socketPath: url.slice('unix:'.length) } : { host: new URL(url).hostname, port: Number(new URL(url).port) };
  return new Promise((resolve, reject) => {
    const req = request({ ...where, method, path, agent: false, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Repeats `probe` (a failed probe counts as false) until it returns true, failing after `ms`. */
export async function waitFor(what: string, probe: () => Promise<boolean>, ms = 10_000): Promise<void> {
  await waitForCondition(() => probe().catch(() => false), { what, timeoutMs: ms, intervalMs: 20 });
}
