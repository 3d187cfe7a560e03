import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
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

/** The hooks one model's facades and batchers report through (its `model` label when several models are served). */
export interface ModelMetrics {
  readonly requestObserver: EmbedObserver;
  readonly observeBatch: (batch: BatchStats) => void;
  readonly observeImageBatch: (batch: BatchStats) => void;
  /** A gauge read at each scrape, as this model's series. */
  gauge(name: string, help: string, read: () => number): void;
}

type Labels = Record<string, string>;

export class Metrics {
  /** Prometheus text of everything below, for GET /metrics. */
  readonly registry = new Registry();
  private eventLoop: ReturnType<typeof monitorEventLoopDelay> | null = null;
  /** With several models every series carries a `model` label; with one, none (TEI's exposition exactly). */
  private readonly labelNames: string[];
  private readonly gauges = new Map<string, Map<string, () => number>>();
  readonly requests: Counter;
  readonly successes: Counter;
  readonly failures: Counter;
  readonly requestDuration: Histogram;
  readonly tokenizationDuration: Histogram;
  readonly queueDuration: Histogram;
  readonly inferenceDuration: Histogram;
  readonly batchSize: Histogram;
  readonly batchTokensPerCall: Histogram;
  readonly batchInferenceDuration: Histogram;
  /** Against te_batch_inference_duration: how much of a model call the threads' messages waited. */
  readonly sessionDuration: Histogram;
  /** Their ratio is the padding efficiency of the batches that ran. */
  readonly batchTokens: Counter;
  readonly batchPaddedTokens: Counter;
  /** The hooks of the unlabelled series (one model). */
  readonly requestObserver: EmbedObserver;
  readonly observeBatch: (batch: BatchStats) => void;
  readonly observeImageBatch: (batch: BatchStats) => void;

  /** `labelled`: several models are served, and each series says which one it counts. */
  constructor({ labelled = false }: { labelled?: boolean } = {}) {
    this.labelNames = labelled ? ['model'] : [];
    this.requests = this.teCounter('te_request_count', 'Requests received');
    this.successes = this.teCounter('te_request_success', 'Requests answered with vectors');
    this.failures = this.teCounter('te_request_failure', 'Requests answered with an error');
    this.requestDuration = this.histogram('te_request_duration', 'Request duration, seconds', LATENCY_BUCKETS_S);
    this.tokenizationDuration = this.histogram('te_request_tokenization_duration', "Time a request's inputs took to tokenize, seconds", LATENCY_BUCKETS_S);
    this.queueDuration = this.histogram('te_request_queue_duration', "Time a request's inputs waited for a model call, seconds", LATENCY_BUCKETS_S);
    this.inferenceDuration = this.histogram('te_request_inference_duration', "Time a request's model calls took, seconds", LATENCY_BUCKETS_S);
    this.batchSize = this.histogram('te_batch_next_size', 'Inputs per model call', SIZE_BUCKETS);
    this.batchTokensPerCall = this.histogram('te_batch_next_tokens', 'Tokens of the inputs per text-model call', TOKEN_BUCKETS);
    this.batchInferenceDuration = this.histogram('te_batch_inference_duration', 'Model call duration, seconds', LATENCY_BUCKETS_S);
    this.sessionDuration = this.histogram('coalesce_batch_session_duration', "Time a session's thread worked on a model call, seconds", LATENCY_BUCKETS_S);
    this.batchTokens = new Counter({
      name: 'coalesce_batch_tokens_total',
      help: 'Tokens of the inputs sent to the model',
      labelNames: this.labelNames,
      registers: [this.registry],
    });
    this.batchPaddedTokens = new Counter({
      name: 'coalesce_batch_padded_tokens_total',
      help: 'Tokens the model computed, padding included (batch size x longest input)',
      labelNames: this.labelNames,
      registers: [this.registry],
    });
    this.watchMemory();
    const own = this.hooks({});
    this.requestObserver = own.requestObserver;
    this.observeBatch = own.observeBatch;
    this.observeImageBatch = own.observeImageBatch;
  }

  private teCounter(name: string, help: string): Counter {
    const counter = new Counter({ name: `${name}_total`, help, labelNames: this.labelNames, registers: [this.registry] });
    this.registry.registerMetric(new UntypedView(name, `${help} (TEI's name; same value as ${name}_total)`, counter) as unknown as Metric);
    return counter;
  }

  private histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name, help, buckets, labelNames: this.labelNames, registers: [this.registry] });
  }

  /** One model's hooks: its series carry `model="<name>"` when the registry is labelled. */
  forModel(model: string): ModelMetrics {
    const labels: Labels = this.labelNames.length > 0 ? { model } : {};
    return { ...this.hooks(labels), gauge: (name, help, read) => this.gauge(name, help, read, model) };
  }

  private hooks(labels: Labels): Omit<ModelMetrics, 'gauge'> {
    const inc = (c: Counter, by = 1) => c.inc(labels, by);
    const observe = (h: Histogram, v: number) => h.observe(labels, v);
    const observeCall = (batch: BatchStats) => {
      observe(this.batchSize, batch.size);
      observe(this.batchInferenceDuration, batch.inferenceMs / 1000);
      if (batch.sessionMs !== undefined) observe(this.sessionDuration, batch.sessionMs / 1000);
    };
    return {
      /** The facades' request hooks (the core's EmbedObserver). */
      requestObserver: {
        requestStarted: () => inc(this.requests),
        requestFinished: (ok, timings) => {
          inc(ok ? this.successes : this.failures);
          if (timings) {
            observe(this.requestDuration, timings.totalMs / 1000);
            observe(this.tokenizationDuration, timings.tokenizationMs / 1000);
            observe(this.queueDuration, timings.queueMs / 1000);
            observe(this.inferenceDuration, timings.inferenceMs / 1000);
          }
        },
      },
      /** The text batcher's onBatch hook: its units are tokens (useful vs padded). */
      observeBatch: (batch) => {
        observeCall(batch);
        observe(this.batchTokensPerCall, batch.useful);
        inc(this.batchTokens, batch.useful);
        inc(this.batchPaddedTokens, batch.units);
      },
      /** The image batcher's onBatch hook: images are no tokens. */
      observeImageBatch: observeCall,
    };
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
      this.serverGauge(`nodejs_eventloop_lag_${stat}_seconds`, `Event-loop delay ${stat} since the previous scrape`, () => {
        const value = seconds(read());
        if (i === stats.length - 1) h.reset();
        return value;
      }),
    );
  }

  /**
   * The process's resident memory and the main thread's JavaScript heap, with prom-client's names:
   * resident memory well above the heap and the external memory is native (ONNX Runtime, the
   * allocator's free lists, other threads' heaps); docs/operations.md says how it behaves after load.
   */
  private watchMemory(): void {
    this.serverGauge('process_resident_memory_bytes', 'Resident memory size in bytes', () => process.memoryUsage.rss());
    const heap = () => getHeapStatistics();
    this.serverGauge('nodejs_heap_size_total_bytes', "Main thread's JavaScript heap committed, bytes", () => heap().total_heap_size);
    this.serverGauge('nodejs_heap_size_used_bytes', "Main thread's JavaScript heap in use, bytes", () => heap().used_heap_size);
    this.serverGauge(
      'nodejs_external_memory_bytes',
      "Memory held outside the main thread's heap by its objects (buffers), bytes",
      () => process.memoryUsage().external,
    );
  }

  stop(): void {
    this.eventLoop?.disable();
  }

  /** A gauge of the process (no model label), read at each scrape. */
  private serverGauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A gauge read at each scrape; with `model`, that model's series of it (several models share one gauge). */
  gauge(name: string, help: string, read: () => number, model = ''): void {
    let readers = this.gauges.get(name);
    if (!readers) {
      const all = (readers = new Map());
      this.gauges.set(name, all);
      const labelled = this.labelNames.length > 0;
      new Gauge({
        name,
        help,
        labelNames: this.labelNames,
        registers: [this.registry],
        collect() {
          for (const [m, r] of all) {
            if (labelled) this.set({ model: m }, r());
            else this.set(r());
          }
        },
      });
    }
    readers.set(model, read);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The current value of a counter or the count of a histogram, as /metrics shows it (summed over models). */
  async count(metric: Counter | Histogram): Promise<number> {
    const { values } = await metric.get();
    let sum = 0;
    for (const v of values as { value: number; metricName?: string }[]) if (v.metricName === undefined || v.metricName.endsWith('_count')) sum += v.value;
    return sum;
  }
}
