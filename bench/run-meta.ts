/**
 * Where and when a benchmark ran, for its result files: date, commit (--commit, for a copy of the
 * tree without .git such as the device machine's, else git) and the machine (CPU, memory, GPU).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { flagValue } from './args.js';

export interface RunMeta {
  date: string;
  commit: string;
  machine: string;
  loadAverageAtStart: number[];
  /** --note: what the reader should know about the run (e.g. that the machine was shared). */
  note: string | null;
}

function gpuName(): string | null {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim().split('\n').join('; ') : null;
}

export function runMeta(argv: readonly string[] = process.argv.slice(2)): RunMeta {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const gpu = gpuName();
  return {
    date: new Date().toISOString(),
    commit: flagValue('commit', null, argv) ?? (git.status === 0 ? git.stdout.trim() : 'unknown'),
    machine:
      `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}` + (gpu ? `, GPU ${gpu}` : ''),
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    note: flagValue('note', null, argv),
  };
}

/** Arguments after a lone `--`: passed to the server unchanged. */
export function passThroughArgs(argv: readonly string[] = process.argv.slice(2)): string[] {
  const i = argv.indexOf('--');
  return i >= 0 ? argv.slice(i + 1) : [];
}

/** The script's own arguments (before a lone `--`). */
export function ownArgs(argv: readonly string[] = process.argv.slice(2)): string[] {
  const i = argv.indexOf('--');
  return i >= 0 ? argv.slice(0, i) : [...argv];
}
