/**
 * Where one server's model time went, model by model: /metrics is scraped every few hundred ms
 * for the server's whole life (and, on a GPU, nvidia-smi's utilization read alongside), and any
 * window afterwards is summarised from the samples nearest inside it. Sampling instead of two
 * scrapes at the window's ends lets a closed loop open its window whenever it reaches steady
 * state, and covers several phases with one sampler.
 *
 * Clock: epoch ms from performance.timeOrigin + performance.now(), the open-loop generators' clock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { scrape } from './server-stats.js';
import { sampleGpuUtilization } from './gpu-utilization.js';

export const nowMs = () => performance.timeOrigin + performance.now();

/** A closed loop's window (process.hrtime µs, LoadResult.windowUs) on the epoch-ms clock. */
export function hrtimeWindowToMs(windowUs: [number, number]): [number, number] {
  const offset = nowMs() - Number(process.hrtime.bigint()) / 1e6;
  return [windowUs[0] / 1000 + offset, windowUs[1] / 1000 + offset];
}

export interface ModelTime {
  /** The model's sessions (all device groups), as /v1/models lists them. */
  sessions: number;
  /** The series the busy time came from: the sessions' own time, or the main thread's view of calls where the server gives no session time. */
  source: 'coalesce_batch_session_duration' | 'te_batch_inference_duration';
  /** Session-seconds in model calls / window seconds / sessions: the share of the window the model's session threads were busy. */
  busyShare: number;
  /** Session-seconds / window seconds: how many of its sessions were in a call at once, on average. */
  sessionsInFlight: number;
  callsPerS: number;
  meanBatchSize: number | null;
  /** A call as its session thread timed it, and as the main thread timed it (the answer's wait for the event loop included). */
  sessionMsPerCall: number | null;
  callMs: number | null;
  /** Mean time a request's inputs waited for a model call (te_request_queue_duration). */
  queueMs: number | null;
}

export interface PhaseTime {
  /** The stretch the samples covered (inside the phase's window), seconds. */
  windowS: number;
  /** Mean of nvidia-smi utilization.gpu samples in the window (share of time some kernel ran), when there is a GPU. */
  gpuUtilization: number | null;
  models: Record<string, ModelTime>;
}

interface Sample {
  at: number;
  values: Map<string, number>;
}

export interface Timeline {
  /** Summarises [fromMs, toMs] (epoch ms) for the given models; null when fewer than two samples fall inside. */
  phase(window: [number, number], models: { name: string; sessions: number }[]): PhaseTime | null;
  stop(): Promise<void>;
}

/** `gpuIndex`: the nvidia-smi index to read utilization from, or null for none (a CPU run). */
export function startTimeline(httpUrl: string, gpuIndex: number | null, periodMs = 250): Timeline {
  const samples: Sample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const values = await scrape(httpUrl).then(
        (s) => s.values,
        () => null,
      );
      if (values) samples.push({ at: nowMs(), values });
      await sleep(periodMs);
    }
  })();
  const gpu = gpuIndex === null ? null : sampleGpuUtilization(gpuIndex, periodMs);

  const phase = (window: [number, number], models: { name: string; sessions: number }[]): PhaseTime | null => {
    const inside = samples.filter((s) => s.at >= window[0] && s.at <= window[1]);
    if (inside.length < 2) return null;
    const first = inside[0];
    const last = inside[inside.length - 1];
    const windowS = (last.at - first.at) / 1000;
    const d = (series: string, model: string) => {
      const key = `${series}{model="${model}"}`;
      return (last.values.get(key) ?? 0) - (first.values.get(key) ?? 0);
    };
    const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
    const result: Record<string, ModelTime> = {};
    for (const { name, sessions } of models) {
      const sessionCalls = d('coalesce_batch_session_duration_count', name);
      const calls = d('te_batch_inference_duration_count', name);
      const callS = d('te_batch_inference_duration_sum', name);
      // A backend that reports no session time: the main thread's call time, which overstates busy time by the answer's wait for the event loop.
      const fromSessions = sessionCalls > 0 || calls === 0;
      const busyS = fromSessions ? d('coalesce_batch_session_duration_sum', name) : callS;
      result[name] = {
        sessions,
        source: fromSessions ? 'coalesce_batch_session_duration' : 'te_batch_inference_duration',
        busyShare: busyS / windowS / Math.max(1, sessions),
        sessionsInFlight: busyS / windowS,
        callsPerS: calls / windowS,
        meanBatchSize: ratio(d('te_batch_next_size_sum', name), d('te_batch_next_size_count', name)),
        sessionMsPerCall: fromSessions ? ratio(d('coalesce_batch_session_duration_sum', name) * 1000, sessionCalls) : null,
        callMs: ratio(callS * 1000, calls),
        queueMs: ratio(d('te_request_queue_duration_sum', name) * 1000, d('te_request_queue_duration_count', name)),
      };
    }
    return { windowS, gpuUtilization: gpu?.mean(window) ?? null, models: result };
  };

  return {
    phase,
    stop: async () => {
      stopped = true;
      gpu?.stop();
      await loop;
    },
  };
}
