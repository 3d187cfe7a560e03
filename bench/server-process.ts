/**
 * Runs the real server (dist/src/main.js) as one child process, so the load generator does not
 * share the server's event loop. Ports are picked free up front; readiness is /health turning 200.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The server's own flags, read from --help, so the bench adapts to options other engineers add. */
export function serverFlags(mainJs = MAIN_JS): string[] {
  const help = spawnSync(process.execPath, [mainJs, '--help'], { encoding: 'utf8' }).stdout ?? '';
  return [...help.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1]);
}

/** The flag that opens the gRPC port, when this build has one (e.g. --grpc-port). */
export function grpcPortFlag(flags: string[]): string | null {
  return flags.find((f) => f.includes('grpc') && f.endsWith('port')) ?? null;
}

export interface ServerProcess {
  httpUrl: string;
  grpcTarget: string | null;
  child: ChildProcess;
  /** Everything it printed, for error reports. */
  output(): string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  model: string;
  intraOpThreads: number;
  extraArgs?: string[];
  /** Node flags for the child, e.g. --cpu-prof. */
  nodeArgs?: string[];
  grpc?: boolean;
  startTimeoutS?: number;
  /** Environment variables for the child beyond this process's own (e.g. MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
  /** Another build's main.js (an A/B of two commits); default: this build's. */
  mainJs?: string;
}

export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  const mainJs = options.mainJs ?? MAIN_JS;
  const flags = serverFlags(mainJs);
  const port = await freePort();
  const args = [
    ...(options.nodeArgs ?? []),
    mainJs,
    '--model',
    options.model,
    '--hostname',
    '127.0.0.1',
    '--port',
    String(port),
    '--intra-op-threads',
    String(options.intraOpThreads),
    ...(options.extraArgs ?? []),
  ];
  let grpcTarget: string | null = null;
  const grpcFlag = grpcPortFlag(flags);
  if (grpcFlag && options.grpc) {
    const grpcPort = await freePort();
    args.push(grpcFlag, String(grpcPort));
    grpcTarget = `127.0.0.1:${grpcPort}`;
  } else if (grpcFlag) {
    args.push(grpcFlag, '-1'); // off: its default port may be taken by a server someone else runs
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let out = '';
  const keep = (b: Buffer) => {
    out = (out + b.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));

  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + (options.startTimeoutS ?? 180) * 1000;
  for (;;) {
    if (exited !== null) throw new Error(`the server exited (code ${exited}) before it was healthy:\n${out}`);
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server was not healthy in time:\n${out}`);
    }
    const ok = await fetch(`${httpUrl}/health`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    await sleep(200);
  }

  return {
    httpUrl,
    grpcTarget,
    child,
    output: () => out,
    stop: async () => {
      if (exited !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
