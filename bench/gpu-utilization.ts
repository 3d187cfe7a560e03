/**
 * nvidia-smi's utilization.gpu (the share of time some kernel ran) sampled every few hundred ms for
 * a run's whole life; any window afterwards is the mean of the samples inside it. Without
 * nvidia-smi the mean is null: the report says so rather than the run failing.
 *
 * Clock: epoch ms (performance.timeOrigin + performance.now(), Date.now()'s scale).
 */
import { spawn } from 'node:child_process';

export interface GpuUtilization {
  /** Mean share (0-1) over [fromMs, toMs], or null when no sample falls inside. */
  mean(window: [number, number]): number | null;
  stop(): void;
}

export function sampleGpuUtilization(gpuIndex: number, periodMs = 250): GpuUtilization {
  const samples: { at: number; value: number }[] = [];
  const smi = spawn('nvidia-smi', ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits', '-i', String(gpuIndex), '-lms', String(periodMs)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  smi.on('error', () => {});
  let rest = '';
  smi.stdout?.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      const value = Number(line.trim());
      if (line.trim() !== '' && Number.isFinite(value)) samples.push({ at: performance.timeOrigin + performance.now(), value: value / 100 });
    }
  });
  return {
    mean: ([from, to]) => {
      const inside = samples.filter((s) => s.at >= from && s.at <= to);
      return inside.length ? inside.reduce((n, s) => n + s.value, 0) / inside.length : null;
    },
    stop: () => {
      smi.kill();
    },
  };
}
