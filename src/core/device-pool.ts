/**
 * Data parallelism over device groups: one model, one copy of its weights per device (or per
 * device group, e.g. `cpu,cpu`), all taking batches from the one queue of that model. The pool is
 * itself a batch backend: the model's batcher hands it as many batches at once as its live
 * devices have room for, and each batch goes to the least busy device. A device whose call fails
 * with a device failure is taken out and the batch retried on another; the model is unhealthy
 * only once every device is out.
 */
import { CoalesceError, isCoalesceError } from '../errors.js';
import type { BatchBackend } from './batcher.js';
import type { BatchResult } from './types.js';

export interface PoolMember<I> extends BatchBackend<I> {
  close(): Promise<void>;
}

export interface DeviceState {
  device: string;
  live: boolean;
  /** Batches running on it now. */
  busy: number;
  /** Batches it answered. */
  batches: number;
  /** Why it was taken out. */
  failure?: string;
}

interface Member<I> {
  device: string;
  backend: PoolMember<I>;
  busy: number;
  batches: number;
  failure: string | null;
}

/**
 * A failure of the device rather than of the batch: its session thread died (the sessions' pools
 * answer 'unhealthy'), or the runtime reports the device itself (CUDA errors, lost devices, out of
 * device memory). A batch another device could run. Anything else (a bad input) would fail on
 * every device and is the batch's own error.
 */
export function isDeviceFailure(e: unknown): boolean {
  if (isCoalesceError(e) && e.kind === 'unhealthy') return true;
  const message = e instanceof Error ? e.message : String(e);
  return /\b(CUDA|cuda|cuDNN|cudnn|CUBLAS|cublas|device lost|out of memory)\b/.test(message);
}

export class DevicePool<I, Info extends { padded: boolean; device: string }> implements PoolMember<I> {
  readonly info: Info;
  private readonly members: Member<I>[];

  /** `onDeviceLost`: told once per device taken out (for the log). */
  constructor(
    backends: readonly { device: string; backend: PoolMember<I> & { info: Info } }[],
    private readonly what: string,
    private readonly onDeviceLost: (device: string, reason: string, left: number) => void = () => {},
  ) {
    if (backends.length === 0) throw new Error(`${what}: a device pool needs at least one device`);
    this.members = backends.map(({ device, backend }) => ({ device, backend, busy: 0, batches: 0, failure: null }));
    this.info = { ...backends[0].backend.info, device: backends.map((b) => b.device).join(',') };
  }

  /** Room of the live devices. At least 1, so a batch reaches embed() and fails at once when none is live, rather than waiting forever. */
  get maxConcurrentBatches(): number {
    let room = 0;
    for (const m of this.members) if (m.failure === null) room += m.backend.maxConcurrentBatches;
    return Math.max(1, room);
  }

  /** At least one device is still live. */
  get healthy(): boolean {
    return this.members.some((m) => m.failure === null);
  }

  get devices(): DeviceState[] {
    return this.members.map((m) => ({
      device: m.device,
      live: m.failure === null,
      busy: m.busy,
      batches: m.batches,
      ...(m.failure ? { failure: m.failure } : {}),
    }));
  }

  async embed(batch: { inputs: readonly I[] }): Promise<BatchResult> {
    for (;;) {
      const member = this.pick();
      if (!member) {
        const reasons = this.members.map((m) => `${m.device}: ${m.failure}`).join('; ');
        throw new CoalesceError('unhealthy', `every device of ${this.what} failed (${reasons})`);
      }
      member.busy++;
      try {
        const result = await member.backend.embed(batch);
        member.batches++;
        return result;
      } catch (e) {
        if (!isDeviceFailure(e)) throw e;
        this.takeOut(member, e instanceof Error ? e.message : String(e));
      } finally {
        member.busy--;
      }
    }
  }

  /** The live device with the most room left (busy over its capacity), the first one on ties. */
  private pick(): Member<I> | null {
    let best: Member<I> | null = null;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const m of this.members) {
      if (m.failure !== null) continue;
      const load = m.busy / Math.max(1, m.backend.maxConcurrentBatches);
      if (load < bestLoad) {
        best = m;
        bestLoad = load;
      }
    }
    return best;
  }

  private takeOut(member: Member<I>, reason: string): void {
    if (member.failure !== null) return;
    member.failure = reason;
    this.onDeviceLost(member.device, reason, this.members.filter((m) => m.failure === null).length);
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.backend.close()));
  }
}

/** Starts one backend per device group, side by side; if any fails, closes the others and rethrows its error. */
export async function startOnEach<T extends { close(): Promise<void> }>(devices: readonly string[], start: (device: string) => Promise<T>): Promise<T[]> {
  const started = await Promise.allSettled(devices.map((d) => start(d)));
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((b) => b.close()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return ok;
}
