/**
 * CPU accounting of a phase from /proc (Linux): how many cores the server, the load generator
 * and everything else on the machine used. The 2 cores are shared with other work, so the
 * "others" figure says how much a phase's numbers were squeezed.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU time in these ticks; 100 on every Linux build Node supports. */
const TICKS_PER_S = 100;

export interface CpuSnapshot {
  at: number;
  busyTicks: number;
  byPid: Map<number, number>;
  /** The main (JS event-loop) thread of each process alone. */
  mainByPid: Map<number, number>;
}

function machineBusyTicks(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    return fields.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  } catch {
    return NaN;
  }
}

/** utime + stime from a /proc stat line, in ticks. */
function statTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** utime + stime of every thread of the process (or of one thread), in ticks. */
function processTicks(pid: number, tid?: number): number {
  try {
    return statTicks(readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
}

export function cpuSnapshot(pids: number[]): CpuSnapshot {
  return {
    at: performance.now(),
    busyTicks: machineBusyTicks(),
    byPid: new Map(pids.map((p) => [p, processTicks(p)])),
    mainByPid: new Map(pids.map((p) => [p, processTicks(p, p)])),
  };
}

export interface CpuShares {
  /** Cores used by each named process over the phase. */
  cores: Record<string, number>;
  /** Of which its main thread (the event loop: HTTP, tokenization, JSON). */
  mainThreadCores: Record<string, number>;
  /** Cores used by everything else on the machine. */
  othersCores: number;
}

export function cpuShares(before: CpuSnapshot, after: CpuSnapshot, names: Record<string, number>): CpuShares {
  const wallS = (after.at - before.at) / 1000;
  const cores: Record<string, number> = {};
  const mainThreadCores: Record<string, number> = {};
  let ours = 0;
  for (const [name, pid] of Object.entries(names)) {
    const ticks = (after.byPid.get(pid) ?? NaN) - (before.byPid.get(pid) ?? NaN);
    cores[name] = ticks / TICKS_PER_S / wallS;
    mainThreadCores[name] = ((after.mainByPid.get(pid) ?? NaN) - (before.mainByPid.get(pid) ?? NaN)) / TICKS_PER_S / wallS;
    ours += Number.isFinite(cores[name]) ? cores[name] : 0;
  }
  const machine = (after.busyTicks - before.busyTicks) / TICKS_PER_S / wallS;
  return { cores, mainThreadCores, othersCores: Math.max(0, machine - ours) };
}

/** Runs `fn` and reports the cores each named process (and everything else) used meanwhile. */
export async function withCpu<T>(names: Record<string, number>, fn: () => Promise<T>): Promise<{ result: T; cpu: CpuShares }> {
  const before = cpuSnapshot(Object.values(names));
  const result = await fn();
  return { result, cpu: cpuShares(before, cpuSnapshot(Object.values(names)), names) };
}

/** CPU ticks of every thread of a process, with its name (comm, less the `node-` newer Node versions may put first), keyed by thread id. */
export function threadTicks(pid: number): Map<number, { name: string; ticks: number }> {
  const out = new Map<number, { name: string; ticks: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/^node-/, '');
      out.set(Number(tid), { name, ticks: statTicks(stat) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Cores each thread used between two threadTicks() snapshots `wallS` apart, busiest first. */
export function threadCores(
  before: Map<number, { name: string; ticks: number }>,
  after: Map<number, { name: string; ticks: number }>,
  wallS: number,
): { tid: number; name: string; cores: number }[] {
  return [...after]
    .map(([tid, t]) => ({ tid, name: t.name, cores: (t.ticks - (before.get(tid)?.ticks ?? 0)) / TICKS_PER_S / wallS }))
    .sort((a, b) => b.cores - a.cores);
}

/** Cores one process's threads used, summed by thread name (the server names its threads by kind: http, text-session, tokenizer, ...). */
export interface ThreadGroups {
  byName: Record<string, number>;
  /** The single busiest thread: a thread near 1 core is a limit no other thread can lift. */
  busiest: { name: string; cores: number } | null;
}

export function threadGroups(
  before: Map<number, { name: string; ticks: number }>,
  after: Map<number, { name: string; ticks: number }>,
  wallS: number,
): ThreadGroups {
  const threads = threadCores(before, after, wallS);
  const byName: Record<string, number> = {};
  for (const t of threads) byName[t.name] = (byName[t.name] ?? 0) + t.cores;
  return { byName, busiest: threads[0] ? { name: threads[0].name, cores: threads[0].cores } : null };
}
