/**
 * An idle Node process that only measures its own event-loop delay: on 2 shared cores a busy
 * machine delays every event loop, so the server's lag means something only next to this one.
 * run() resets it; read() returns p99 and max (ms) since the last reset.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export class LagProbe {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<LagProbe> {
    const child = fork(fileURLToPath(import.meta.url), ['--probe'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
    });
    return new LagProbe(child);
  }

  private ask(type: 'reset' | 'read'): Promise<{ p99: number; max: number }> {
    return new Promise((resolve) => {
      this.child.once('message', (m: { p99: number; max: number }) => resolve(m));
      this.child.send(type);
    });
  }

  reset(): Promise<unknown> {
    return this.ask('reset');
  }

  read(): Promise<{ p99: number; max: number }> {
    return this.ask('read');
  }

  close(): void {
    this.child.kill();
  }
}

if (process.argv[2] === '--probe') {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  process.on('message', (type: string) => {
    const out = { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    if (type === 'reset') h.reset();
    process.send!(out);
  });
  process.send!('ready');
}
