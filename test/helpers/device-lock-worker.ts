/**
 * A thread that enters a DeviceCallLock many times, as a session thread would: shared (runs, some
 * of them async) or exclusive (captures). It records in shared counters who is inside, and counts
 * every moment it finds the lock's promise broken.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceCallLock } from '../../src/backend/ort/device-call-lock.js';

/** counters: [readers inside, writer inside, violations, exclusive sections done] */
const { lock, counters, role, rounds } = workerData as { lock: SharedArrayBuffer; counters: SharedArrayBuffer; role: 'reader' | 'writer'; rounds: number };
const c = new Int32Array(counters);
const device = new DeviceCallLock(lock);

function busy(microseconds: number): void {
  const until = performance.now() + microseconds / 1000;
  while (performance.now() < until);
}

function reader(): void {
  Atomics.add(c, 0, 1);
  if (Atomics.load(c, 1) !== 0) Atomics.add(c, 2, 1);
  busy(20);
  if (Atomics.load(c, 1) !== 0) Atomics.add(c, 2, 1);
  Atomics.sub(c, 0, 1);
}

for (let i = 0; i < rounds; i++) {
  if (role === 'writer') {
    device.exclusive(() => {
      Atomics.store(c, 1, 1);
      if (Atomics.load(c, 0) !== 0) Atomics.add(c, 2, 1);
      busy(200);
      if (Atomics.load(c, 0) !== 0) Atomics.add(c, 2, 1);
      Atomics.store(c, 1, 0);
    });
    Atomics.add(c, 3, 1);
  } else if (i % 4 === 0) {
    // A run that awaits (session.run): the lock is held until its promise settles.
    await device.shared(async () => {
      Atomics.add(c, 0, 1);
      await new Promise((r) => setImmediate(r));
      if (Atomics.load(c, 1) !== 0) Atomics.add(c, 2, 1);
      Atomics.sub(c, 0, 1);
    });
  } else device.shared(reader);
}
parentPort!.postMessage('done');
