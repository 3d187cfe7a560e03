/**
 * Hands the JavaScript heap a thread grew under load back to the system once the thread is idle.
 *
 * Under a high allocation rate V8 grows a thread's young generation (the main thread's reached
 * ~100 MB under a 5x overload, against ~20 MB of live objects) and keeps it when traffic stops:
 * its memory reducer judges the allocation rate from the last garbage collection, which a thread
 * that allocates almost nothing never runs, so it keeps finding the rate high and waits (in a
 * test, ~100 s until its watchdog collected). One
 * memory-reducing full collection ("last resort": shrinks the young generation and releases the
 * pages V8 pools) gives the memory back at once; it takes tens of milliseconds, so it runs only
 * when the thread has been idle for a while and enough of its heap lies unused.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** An event loop working less than this share of the time counts as idle (a Prometheus scrape is a few ms). */
export const IDLE_UTILIZATION = 0.05;
/** Heap committed beyond what is used, below which a collection would give back too little to be worth its pause. */
export const MIN_SLACK_BYTES = 16 * 2 ** 20;
const TICK_MS = 1000;

/**
 * The decision, apart from the clock and V8: `due` is asked once a tick and answers whether to
 * collect now. Quiet means no work in flight and an idle event loop; after a collection the
 * thread must be quiet for `idleMs` again (and have grown its slack again) before the next one.
 */
export class IdleWatch {
  private quietSince: number;

  constructor(
    private readonly idleMs: number,
    now: number,
    private readonly minSlackBytes = MIN_SLACK_BYTES,
  ) {
    this.quietSince = now;
  }

  due(now: number, active: boolean, slackBytes: number): boolean {
    if (active) {
      this.quietSince = now;
      return false;
    }
    if (now - this.quietSince < this.idleMs || slackBytes < this.minSlackBytes) return false;
    this.quietSince = now;
    return true;
  }
}

export interface HeapRelease {
  /** Heap committed before and after, and the collection's pause. */
  beforeBytes: number;
  afterBytes: number;
  ms: number;
}

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * V8's gc() without starting node with --expose-gc: a new context made with the flag on has one.
 * The flag stays on: V8's flags are the process's, threads (HTTP threads) start at once, and one
 * turning it off again while another made its context left that one without gc. Null when V8
 * gives none: the release is then off, nothing else.
 */
function collector(): Collect | null {
  const exposed = (globalThis as { gc?: Collect }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('typeof gc === "function" ? gc : null') as Collect | null;
    return gc;
  } catch {
    return null;
  }
}

/** One memory-reducing full collection of this thread's heap, now. */
export function releaseHeap(collect: Collect | null = collector()): HeapRelease {
  if (!collect) throw new Error('V8 gave no gc function');
  const beforeBytes = getHeapStatistics().total_heap_size;
  const started = performance.now();
  collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return { beforeBytes, afterBytes: getHeapStatistics().total_heap_size, ms: performance.now() - started };
}

export interface IdleHeapOptions {
  /** Idle time before a collection; 0: never. */
  idleMs: number;
  /** True while work is in flight that a pause would delay (requests in progress). */
  busy?: () => boolean;
  onRelease?: (release: HeapRelease) => void;
}

/** Watches this thread (event-loop utilization, `busy`, heap slack) once a second; returns the stop function. */
export function releaseHeapWhenIdle({ idleMs, busy = () => false, onRelease }: IdleHeapOptions): () => void {
  const collect = idleMs > 0 ? collector() : null;
  if (!collect) return () => {};
  const watch = new IdleWatch(idleMs, performance.now());
  let last = performance.eventLoopUtilization();
  const timer = setInterval(
    () => {
      const now = performance.eventLoopUtilization();
      const utilization = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      const heap = getHeapStatistics();
      if (watch.due(performance.now(), utilization > IDLE_UTILIZATION || busy(), heap.total_heap_size - heap.used_heap_size)) {
        const release = releaseHeap(collect);
        // The collection's own time must not read as load on the next tick.
        last = performance.eventLoopUtilization();
        onRelease?.(release);
      }
    },
    Math.min(TICK_MS, idleMs),
  );
  timer.unref();
  return () => clearInterval(timer);
}
