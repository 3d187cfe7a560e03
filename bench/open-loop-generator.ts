/**
 * One shard of the open-loop load generator (bench/open-loop.ts runs several as separate
 * processes). Requests leave at Poisson arrival times fixed in advance against the wall clock,
 * whether or not earlier ones have been answered: the server's answers never slow the offered
 * load, unlike a closed loop of clients. Each arrival time is absolute (start + sum of
 * exponential gaps), so a late timer never shifts the arrivals after it.
 *
 * The generator checks itself: `lateness` is how long after its scheduled time each request was
 * actually handed to the socket. Latency is measured from the scheduled time, so a late
 * generator makes latency look worse, never better.
 *
 * The client is lean-http.ts's (request bytes built once, one request at a time per keep-alive
 * socket, a new socket whenever every open one is busy): node:http's client costs several times
 * its CPU per request, and the generator has to outrun the server on the same machine.
 *
 * usage: node open-loop-generator.js <file of a JSON GeneratorTask>  -> prints `RESULT {...}`
 */
import { readFileSync } from 'node:fs';
import { childPayload } from './gpu/child.js';
import { LeanConnection, requestBytes } from './lean-http.js';
import { rng } from './texts.js';

export interface GeneratorTask {
  url: string;
  /** JSON file: an array of request bodies (strings). */
  bodiesFile: string;
  shard: number;
  shards: number;
  /** Requests per second of this shard (the step's rate / shards: Poisson processes add up). */
  rate: number;
  /** Epoch ms: arrivals start here; those in [windowStart, windowEnd) count. */
  startAt: number;
  windowStart: number;
  windowEnd: number;
  /** How long after windowEnd unanswered requests are still waited for (ms); then they count as errors. */
  drainMs: number;
  accept: 'json' | 'binary';
  /** The last this many ms before an arrival are waited with setImmediate instead of a timer (0: timers only). */
  spinMs: number;
  seed: number;
}

export interface GeneratorResult {
  shard: number;
  /** Requests scheduled inside the window, and how they ended. */
  scheduled: number;
  ok: number;
  errors: number;
  firstError: string | null;
  /** ms from scheduled time to the end of the answer, of the window's answered requests. */
  latencies: number[];
  /** ms from scheduled time to the moment the request was written, of the window's requests. */
  lateness: number[];
  /** Answers that ended inside the window, and their tokens (x-compute-tokens). */
  completedInWindow: number;
  tokensInWindow: number;
  maxInFlight: number;
  /** CPU time this process used over the run (ms), and the run's wall time (ms). */
  cpuMs: number;
  wallMs: number;
}

const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const task = childPayload<GeneratorTask>();
  const target = new URL(task.url + '/embed');
  const headers = {
    'content-type': 'application/json',
    accept: task.accept === 'binary' ? 'application/octet-stream' : 'application/json',
  };
  const requests = (JSON.parse(readFileSync(task.bodiesFile, 'utf8')) as string[]).map((b) =>
    requestBytes(target.host, target.pathname, headers, Buffer.from(b)),
  );
  // Every request in flight has its own socket: a request queued behind another would be late for a reason of the client's.
  const idle: LeanConnection[] = [];
  const connections: LeanConnection[] = [];
  const connection = () => {
    const c = idle.pop();
    if (c) return c;
    const fresh = new LeanConnection(target.hostname, Number(target.port));
    connections.push(fresh);
    return fresh;
  };
  const r = rng(task.seed + task.shard * 7919);
  const gap = () => (-Math.log(1 - r()) / task.rate) * 1000;
  const latencies: number[] = [];
  const lateness: number[] = [];
  let scheduled = 0;
  let ok = 0;
  let firstError: string | null = null;
  let completedInWindow = 0;
  let tokensInWindow = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let bodyIndex = task.shard;
  const cpuStart = process.cpuUsage();
  const wallStart = now();

  let settle!: () => void;
  const allSettled = new Promise<void>((resolve) => (settle = resolve));
  let scheduling = true;
  const finishOne = () => {
    inFlight--;
    if (!scheduling && inFlight === 0) settle();
  };

  const send = (at: number) => {
    const counted = at >= task.windowStart && at < task.windowEnd;
    const bytes = requests[bodyIndex % requests.length];
    bodyIndex += task.shards;
    if (counted) scheduled++;
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    let done = false;
    const end = (error: string | null, tokens: number) => {
      if (done) return;
      done = true;
      const ended = now();
      if (ended >= task.windowStart && ended < task.windowEnd && error === null) {
        completedInWindow++;
        tokensInWindow += tokens;
      }
      if (counted) {
        if (error === null) {
          ok++;
          latencies.push(ended - at);
        } else firstError ??= error;
      }
      finishOne();
    };
    const c = connection();
    c.send(bytes).then(
      (res) => {
        idle.push(c);
        if (res.status === 200) end(null, Number(res.headers['x-compute-tokens'] ?? 0));
        else end(`status ${res.status}: ${res.body.toString().slice(0, 200)}`, 0);
      },
      (e: Error) => end(e.message, 0),
    );
    if (counted) lateness.push(now() - at);
  };

  let next = task.startAt + gap();
  const tick = () => {
    while (next <= now() && next < task.windowEnd) {
      send(next);
      next += gap();
    }
    if (next >= task.windowEnd) {
      scheduling = false;
      if (inFlight === 0) settle();
      return;
    }
    const wait = next - now();
    if (wait > task.spinMs) setTimeout(tick, Math.max(0, wait - task.spinMs));
    else setImmediate(tick);
  };
  setTimeout(tick, Math.max(0, task.startAt - now()));

  const deadline = new Promise<void>((resolve) => setTimeout(resolve, task.windowEnd + task.drainMs - now()).unref());
  await Promise.race([allSettled, deadline]);
  // Still unanswered past the drain: the server is far behind; each counts as an error (scheduled - ok).
  if (inFlight > 0) firstError ??= `${inFlight} request(s) unanswered ${task.drainMs} ms after the step ended`;
  const cpu = process.cpuUsage(cpuStart);
  const result: GeneratorResult = {
    shard: task.shard,
    scheduled,
    ok,
    errors: scheduled - ok,
    firstError,
    latencies,
    lateness,
    completedInWindow,
    tokensInWindow,
    maxInFlight,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: now() - wallStart,
  };
  for (const c of connections) c.close();
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n', () => process.exit(0));
}

main().catch((e) => {
  process.stdout.write('RESULT ' + JSON.stringify({ error: (e as Error).message }) + '\n', () => process.exit(1));
});
