import type { EmbedObserver } from './core/request-guard.js';
import type { BatchStats } from './core/batcher.js';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Every metric Coalesce exports, defined once, rendered in the Prometheus text format.
 * Histograms use fixed buckets; the names follow TEI's (te_*) so its dashboards apply.
 */
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

class Counter {
  value = 0;
  constructor(readonly name: string, readonly help: string) {}
  inc(by = 1): void {
    this.value += by;
  }
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, `${this.name} ${this.value}`];
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, private readonly buckets: number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`];
  }
}

/**
 * Event-loop delay of the main thread (perf_hooks.monitorEventLoopDelay), as prom-client exports
 * it: nodejs_eventloop_lag_*_seconds gauges over the interval since the previous scrape (the
 * histogram resets after each render). Tells whether tokenization or JSON work starves the loop.
 */
class EventLoopLag {
  private readonly histogram: IntervalHistogram;
  constructor(resolutionMs: number) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
  }
  render(): string[] {
    const h = this.histogram;
    const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const stats: [string, number][] = [
      ['mean', h.mean], ['p50', h.percentile(50)], ['p90', h.percentile(90)], ['p99', h.percentile(99)], ['max', h.max],
    ];
    const lines = stats.flatMap(([stat, ns]) => [
      `# HELP nodejs_eventloop_lag_${stat}_seconds Event-loop delay ${stat} since the previous scrape`,
      `# TYPE nodejs_eventloop_lag_${stat}_seconds gauge`,
      `nodejs_eventloop_lag_${stat}_seconds ${s(ns)}`,
    ]);
    h.reset();
    return lines;
  }
  stop(): void {
    this.histogram.disable();
  }
}

export class Metrics {
  readonly requests = new Counter('te_request_count', 'Requests received');
  readonly successes = new Counter('te_request_success', 'Requests answered with vectors');
  readonly failures = new Counter('te_request_failure', 'Requests answered with an error');
  readonly requestDuration = new Histogram('te_request_duration', 'Request duration in seconds', LATENCY_BUCKETS_S);
  readonly queueDuration = new Histogram('te_request_queue_duration', 'Time inputs waited for a model call, seconds', LATENCY_BUCKETS_S);
  readonly inferenceDuration = new Histogram('te_request_inference_duration', 'Model call duration, seconds', LATENCY_BUCKETS_S);
  /** Against te_request_inference_duration: how much of a model call the threads' messages waited. */
  readonly sessionDuration = new Histogram('coalesce_batch_session_duration', "Time a session's thread worked on a model call, seconds", LATENCY_BUCKETS_S);
  readonly batchSize = new Histogram('te_batch_next_size', 'Inputs per model call', SIZE_BUCKETS);
  /** Their ratio is the padding efficiency of the batches that ran. */
  readonly batchTokens = new Counter('coalesce_batch_tokens_total', 'Tokens of the inputs sent to the model');
  readonly batchPaddedTokens = new Counter('coalesce_batch_padded_tokens_total', 'Tokens the model computed, padding included (batch size x longest input)');
  private readonly gauges: Gauge[] = [];
  private eventLoopLag: EventLoopLag | null = null;

  /** The facades' request hooks (the core's EmbedObserver). */
  readonly requestObserver: EmbedObserver = {
    requestStarted: () => this.requests.inc(),
    requestFinished: (ok, timings) => {
      (ok ? this.successes : this.failures).inc();
      if (timings) {
        this.requestDuration.observe(timings.totalMs / 1000);
        this.queueDuration.observe(timings.queueMs / 1000);
      }
    },
  };

  /** The text batcher's onBatch hook: its units are tokens (useful vs padded). */
  readonly observeBatch = (batch: BatchStats): void => {
    this.observeCall(batch);
    this.batchTokens.inc(batch.useful);
    this.batchPaddedTokens.inc(batch.units);
  };

  /** The image batcher's onBatch hook: images are no tokens. */
  readonly observeImageBatch = (batch: BatchStats): void => this.observeCall(batch);

  private observeCall(batch: BatchStats): void {
    this.batchSize.observe(batch.size);
    this.inferenceDuration.observe(batch.inferenceMs / 1000);
    if (batch.sessionMs !== undefined) this.sessionDuration.observe(batch.sessionMs / 1000);
  }

  /** Opt-in (--event-loop-metrics): samples the main thread's event-loop delay every `resolutionMs`. */
  watchEventLoop(resolutionMs = 10): void {
    this.eventLoopLag ??= new EventLoopLag(resolutionMs);
  }

  stop(): void {
    this.eventLoopLag?.stop();
  }

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    const all = [this.requests, this.successes, this.failures, this.requestDuration, this.queueDuration, this.inferenceDuration, this.sessionDuration, this.batchSize,
      this.batchTokens, this.batchPaddedTokens, ...this.gauges];
    const lines = all.flatMap((m) => m.render());
    if (this.eventLoopLag) lines.push(...this.eventLoopLag.render());
    return lines.join('\n') + '\n';
  }
}
