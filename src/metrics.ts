import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { EmbedObserver } from './core/request-guard.js';
import type { BatchStats } from './core/batcher.js';

/**
 * Every metric Coalesce exports, on one prom-client Registry per server (tests run several
 * servers in one process). The names follow TEI's (te_*) so its dashboards apply; docs/metrics.md
 * lists them and says how they meet promtool's lints.
 */
const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const TOKEN_BUCKETS = [16, 64, 256, 1024, 4096, 16384, 65536];

/**
 * TEI's request counters keep their names, which lack the `_total` a counter needs (and
 * te_request_count ends in `_count`, a histogram's suffix): exported untyped, a type promtool
 * does not lint and PromQL treats like any other series. The same values also leave as
 * `<name>_total` counters.
 */
class UntypedView {
  readonly type = 'untyped';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly counter: Counter,
  ) {}
  async get() {
    const { values } = await this.counter.get();
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}

export class Metrics {
  /** Prometheus text of everything below, for GET /metrics. */
  readonly registry = new Registry();
  private eventLoop: ReturnType<typeof monitorEventLoopDelay> | null = null;
  readonly requests = this.teCounter('te_request_count', 'Requests received');
  readonly successes = this.teCounter('te_request_success', 'Requests answered with vectors');
  readonly failures = this.teCounter('te_request_failure', 'Requests answered with an error');
  readonly requestDuration = this.histogram('te_request_duration', 'Request duration, seconds', LATENCY_BUCKETS_S);
  readonly tokenizationDuration = this.histogram('te_request_tokenization_duration', "Time a request's inputs took to tokenize, seconds", LATENCY_BUCKETS_S);
  readonly queueDuration = this.histogram('te_request_queue_duration', "Time a request's inputs waited for a model call, seconds", LATENCY_BUCKETS_S);
  readonly inferenceDuration = this.histogram('te_request_inference_duration', "Time a request's model calls took, seconds", LATENCY_BUCKETS_S);
  readonly batchSize = this.histogram('te_batch_next_size', 'Inputs per model call', SIZE_BUCKETS);
  readonly batchTokensPerCall = this.histogram('te_batch_next_tokens', 'Tokens of the inputs per text-model call', TOKEN_BUCKETS);
  readonly batchInferenceDuration = this.histogram('te_batch_inference_duration', 'Model call duration, seconds', LATENCY_BUCKETS_S);
  /** Against te_batch_inference_duration: how much of a model call the threads' messages waited. */
  readonly sessionDuration = this.histogram('coalesce_batch_session_duration', "Time a session's thread worked on a model call, seconds", LATENCY_BUCKETS_S);
  /** Their ratio is the padding efficiency of the batches that ran. */
  readonly batchTokens = new Counter({ name: 'coalesce_batch_tokens_total', help: 'Tokens of the inputs sent to the model', registers: [this.registry] });
  readonly batchPaddedTokens = new Counter({
    name: 'coalesce_batch_padded_tokens_total',
    help: 'Tokens the model computed, padding included (batch size x longest input)',
    registers: [this.registry],
  });

  private teCounter(name: string, help: string): Counter {
    const counter = new Counter({ name: `${name}_total`, help, registers: [this.registry] });
    this.registry.registerMetric(new UntypedView(name, `${help} (TEI's name; same value as ${name}_total)`, counter) as unknown as Metric);
    return counter;
  }

  private histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name, help, buckets, registers: [this.registry] });
  }

  /** The facades' request hooks (the core's EmbedObserver). */
  readonly requestObserver: EmbedObserver = {
    requestStarted: () => this.requests.inc(),
    requestFinished: (ok, timings) => {
      (ok ? this.successes : this.failures).inc();
      if (timings) {
        this.requestDuration.observe(timings.totalMs / 1000);
        this.tokenizationDuration.observe(timings.tokenizationMs / 1000);
        this.queueDuration.observe(timings.queueMs / 1000);
        this.inferenceDuration.observe(timings.inferenceMs / 1000);
      }
    },
  };

  /** The text batcher's onBatch hook: its units are tokens (useful vs padded). */
  readonly observeBatch = (batch: BatchStats): void => {
    this.observeCall(batch);
    this.batchTokensPerCall.observe(batch.useful);
    this.batchTokens.inc(batch.useful);
    this.batchPaddedTokens.inc(batch.units);
  };

  /** The image batcher's onBatch hook: images are no tokens. */
  readonly observeImageBatch = (batch: BatchStats): void => this.observeCall(batch);

  private observeCall(batch: BatchStats): void {
    this.batchSize.observe(batch.size);
    this.batchInferenceDuration.observe(batch.inferenceMs / 1000);
    if (batch.sessionMs !== undefined) this.sessionDuration.observe(batch.sessionMs / 1000);
  }

  /**
   * Opt-in (--event-loop-metrics): the main thread's event-loop delay sampled every `resolutionMs`,
   * as nodejs_eventloop_lag_*_seconds gauges over the interval since the previous scrape, the
   * names prom-client's default metrics use. Not collectDefaultMetrics itself: three of its
   * gauges end in `_total` (nodejs_active_handles_total, ...), which promtool refuses.
   */
  watchEventLoop(resolutionMs = 10): void {
    if (this.eventLoop) return;
    const h = (this.eventLoop = monitorEventLoopDelay({ resolution: resolutionMs }));
    h.enable();
    const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const stats: [string, () => number][] = [
      ['mean', () => h.mean],
      ['p50', () => h.percentile(50)],
      ['p90', () => h.percentile(90)],
      ['p99', () => h.percentile(99)],
      ['max', () => h.max],
    ];
    // Gauges are collected in registration order: the last one resets the interval.
    stats.forEach(([stat, read], i) =>
      this.gauge(`nodejs_eventloop_lag_${stat}_seconds`, `Event-loop delay ${stat} since the previous scrape`, () => {
        const value = seconds(read());
        if (i === stats.length - 1) h.reset();
        return value;
      }),
    );
  }

  stop(): void {
    this.eventLoop?.disable();
  }

  /** A gauge read at each scrape. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The current value of a counter or the count of a histogram, as /metrics shows it. */
  async count(metric: Counter | Histogram): Promise<number> {
    const { values } = await metric.get();
    const sample = (values as { value: number; metricName?: string }[]).find((v) => v.metricName === undefined || v.metricName.endsWith('_count'));
    return sample?.value ?? 0;
  }
}
