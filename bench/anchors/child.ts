/**
 * Each anchor lives in its own child process, for the whole run of a model: transformers.js
 * carries onnxruntime-node 1.30, which cannot be loaded next to the 1.29 the raw anchor uses (the
 * second binding fails to dlopen), and separate processes keep one phase's threads and heap out
 * of another's. The child loads once, then runs phases on request, so the orchestrator can
 * interleave anchor and server phases in rounds (the 2 cores are shared; interleaving spreads
 * other people's load over every path alike).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

type FromChild = { type: 'ready'; info: unknown } | { type: 'result'; result: unknown } | { type: 'error'; message: string };
type ToChild = { type: 'init'; args: unknown } | { type: 'run'; args: unknown };

export class AnchorProcess<P, R> {
  private log = '';
  private waiting: { resolve(m: FromChild): void; reject(e: Error): void } | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly script: string,
  ) {
    const keep = (b: Buffer) => (this.log = (this.log + b.toString('utf8')).slice(-10_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('message', (m: FromChild) => {
      const w = this.waiting;
      this.waiting = null;
      w?.resolve(m);
    });
    child.once('exit', (code) => {
      const w = this.waiting;
      this.waiting = null;
      w?.reject(new Error(`anchor ${script} exited (code ${code}):\n${this.log}`));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts the child and runs its init; resolves with what init returned. */
  static async start<I, P, R>(script: string, args: I): Promise<{ anchor: AnchorProcess<P, R>; info: unknown }> {
    const path = fileURLToPath(new URL(`./${script}.js`, import.meta.url));
    const child = fork(path, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const anchor = new AnchorProcess<P, R>(child, script);
    const reply = await anchor.send({ type: 'init', args });
    if (reply.type !== 'ready') {
      anchor.close();
      throw new Error(reply.type === 'error' ? reply.message : `unexpected reply ${reply.type}`);
    }
    return { anchor, info: reply.info };
  }

  async run(args: P): Promise<R> {
    const reply = await this.send({ type: 'run', args });
    if (reply.type === 'error') throw new Error(reply.message);
    if (reply.type !== 'result') throw new Error(`unexpected reply ${reply.type}`);
    return reply.result as R;
  }

  close(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private send(message: ToChild): Promise<FromChild> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.child.send(message);
    });
  }
}

/** The child side: `init` loads and returns facts plus the phase runner. */
export function anchorMain<I, P, R>(init: (args: I) => Promise<{ info: unknown; run: (args: P) => Promise<R> }>): void {
  let run: ((args: P) => Promise<R>) | null = null;
  const reply = (m: FromChild) => process.send!(m);
  process.on('message', (m: ToChild) => {
    const task =
      m.type === 'init'
        ? init(m.args as I).then((loaded) => {
            run = loaded.run;
            reply({ type: 'ready', info: loaded.info });
          })
        : (run ? run(m.args as P) : Promise.reject(new Error('not initialised'))).then((result) => reply({ type: 'result', result }));
    task.catch((e: Error) => reply({ type: 'error', message: e.stack ?? String(e) }));
  });
  process.on('disconnect', () => process.exit(0));
}
