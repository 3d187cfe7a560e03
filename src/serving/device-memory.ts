/**
 * Device memory of the served models: an estimate before loading (the weight files, one copy per
 * session of each device group), checked against --max-device-memory, and a measurement after
 * warm-up (the process's memory on the device before and after the model loaded).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** `40GiB`, `80 GB`, `1073741824` -> bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?$/i.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a size (bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Bytes of an ONNX graph and its external weights (`<file>.data`, `<file>_data`, or any `*.onnx_data` beside it named after it). */
export function weightBytes(onnxPath: string): number {
  if (!existsSync(onnxPath)) return 0;
  let bytes = statSync(onnxPath).size;
  const dir = dirname(onnxPath);
  const stem = basename(onnxPath);
  for (const f of readdirSync(dir)) {
    if (f !== stem && f.startsWith(stem) && /(_data|\.data)$/.test(f)) bytes += statSync(join(dir, f)).size;
  }
  return bytes;
}

export interface Placement {
  model: string;
  device: string;
  bytes: number;
}

/**
 * Refuses (throws, naming the device, its models and their sizes) when the estimates placed on one
 * device add up past `budget`. Each device is its own budget: a GPU's memory, or the host's for cpu.
 */
export function checkMemoryBudget(placements: readonly Placement[], budget: number): void {
  const byDevice = new Map<string, Placement[]>();
  for (const p of placements) byDevice.set(p.device, [...(byDevice.get(p.device) ?? []), p]);
  for (const [device, on] of byDevice) {
    const total = on.reduce((sum, p) => sum + p.bytes, 0);
    if (total > budget) {
      const parts = on.map((p) => `${p.model} ${formatBytes(p.bytes)}`).join(' + ');
      throw new Error(
        `the models would not fit --max-device-memory ${formatBytes(budget)} on ${device}: ${parts} = ${formatBytes(total)} of weights ` +
          '(estimated from the weight files, one copy per session); serve fewer models or sessions there, move one to another device, or raise the budget',
      );
    }
  }
}

export interface MeasuredMemory {
  bytes: number | null;
  /**
   * How `bytes` was found: the growth of the process's resident memory (CPU). On CUDA it is
   * unavailable: ONNX Runtime's Node binding reports no device memory, and the server starts no
   * process (nvidia-smi) to ask; the estimate stands, and nvidia-smi outside measures the process.
   */
  source: 'rss-delta' | 'unavailable';
}

/**
 * Starts a measurement of what loading a model takes on `devices`; the returned function ends it.
 * Models load one after another, so the growth between the two readings is this model's
 * (on the CPU it includes the tokenizer, and whatever else the process allocated meanwhile).
 */
export function startMemoryMeasure(devices: readonly string[]): () => MeasuredMemory {
  if (devices.some((d) => d.startsWith('cuda') || d === 'auto')) return () => ({ bytes: null, source: 'unavailable' });
  const before = process.memoryUsage().rss;
  return () => ({ bytes: Math.max(0, process.memoryUsage().rss - before), source: 'rss-delta' });
}
