/**
 * GPU memory of one process serving two models against two processes serving one each (what a
 * server that gets concurrency by processes would hold), read from nvidia-smi per process once
 * each server is healthy (models loaded, buckets warmed). Writes gpu-memory.{json,md}.
 *
 * usage: node dist/bench/gpu/gpu-memory.js --a <model dir> --b <model dir> --out <dir> [--server-flags "..."]
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flagValue } from '../args.js';
import { startServer, type ServerProcess } from '../server-process.js';

const A = flagValue('a') ?? '';
const B = flagValue('b') ?? '';
const OUT = flagValue('out', 'bench/results');
const FLAGS = (flagValue('server-flags', '') ?? '').split(' ').filter(Boolean);

/** MiB of GPU memory per process id, as nvidia-smi reports compute processes. */
function gpuMemoryByPid(): Map<number, number> {
  const out = execSync('nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits', { encoding: 'utf8' });
  return new Map(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(',').map((x) => Number(x.trim())) as [number, number]),
  );
}

async function measure(servers: ServerProcess[]): Promise<number[]> {
  const byPid = gpuMemoryByPid();
  return servers.map((s) => byPid.get(s.child.pid!) ?? NaN);
}

const start = (models: string[]) =>
  startServer({ model: models[0], intraOpThreads: 0, extraArgs: [...models.slice(1).flatMap((m) => ['--model', m]), ...FLAGS], startTimeoutS: 600 });

const one = await start([`a=${A}`, `b=${B}`]);
const together = await measure([one]).finally(() => one.stop());
const [sa, sb] = [await start([`a=${A}`]), await start([`b=${B}`])];
const apart = await measure([sa, sb]).finally(() => Promise.all([sa.stop(), sb.stop()]));

const gpu = execSync('nvidia-smi --query-gpu=name --format=csv,noheader', { encoding: 'utf8' }).trim();
const report = {
  date: new Date().toISOString(),
  commit: flagValue('commit') ?? 'unknown',
  gpu,
  a: A,
  b: B,
  flags: FLAGS,
  oneProcessMiB: together[0],
  twoProcessesMiB: apart,
};
const md = [
  '# GPU memory: two models in one process against one process each',
  '',
  `${report.date}, commit ${report.commit}, ${gpu}. Models: a = ${A}, b = ${B}; server flags: ${FLAGS.join(' ') || '(none)'}. nvidia-smi's per-process memory once /health is 200 (models loaded, shape buckets warmed).`,
  '',
  '| layout | GPU memory (MiB) |',
  '| --- | ---: |',
  `| one process, both models | ${together[0]} |`,
  `| two processes (a, b) | ${apart[0]} + ${apart[1]} = ${apart[0] + apart[1]} |`,
  '',
  `One process holds ${(apart[0] + apart[1] - together[0]).toFixed(0)} MiB less: one CUDA context and one ONNX Runtime arena per process instead of two.`,
  '',
].join('\n');
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'gpu-memory.json'), JSON.stringify(report, null, 1));
writeFileSync(join(OUT, 'gpu-memory.md'), md);
console.log(md);
