/**
 * Prometheus text exposition (format 0.0.4), written by hand: counters, gauges and histograms with labels.
 *
 * @example
 * ```ts
 * const registry = new MetricsRegistry();
 * const requests = registry.counter('branchy_requests_total', 'HTTP requests answered.', ['route', 'status']);
 * requests.inc({ route: '/healthz', status: '200' });
 * registry.render(); // '# HELP branchy_requests_total …'
 * ```
 */

type Labels = Record<string, string>;

/** Escapes a label value as the text format requires (backslash, double quote, newline). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Metric {
  readonly name: string;
  render(): string;
}

abstract class Labelled<T> implements Metric {
  protected readonly series = new Map<string, { values: string[]; state: T }>();

  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  protected abstract readonly type: string;
  protected abstract fresh(): T;
  protected abstract lines(labels: string[], state: T): string[];

  protected state(labels: Labels = {}): T {
    const values = this.labelNames.map((n) => labels[n] ?? '');
    const key = values.join('\u0000');
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { values, state: this.fresh() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  render(): string {
    const out = [`# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${this.name} ${this.type}`];
    for (const { values, state } of this.series.values()) out.push(...this.lines(values, state));
    return out.join('\n');
  }
}

/** A monotonically increasing count. */
export class Counter extends Labelled<{ value: number }> {
  protected readonly type = 'counter';
  protected fresh() {
    return { value: 0 };
  }
  protected lines(values: string[], state: { value: number }): string[] {
    return [`${this.name}${formatLabels(this.labelNames, values)} ${formatValue(state.value)}`];
  }
  /** Adds `by` (default 1) to the series of `labels`. */
  inc(labels?: Labels, by = 1): void {
    this.state(labels).value += by;
  }
  /** The series of `labels`, to count into without looking it up each time (for hot paths). */
  labels(labels: Labels): { inc(by?: number): void } {
    const state = this.state(labels);
    return {
      inc(by = 1) {
        state.value += by;
      },
    };
  }
  /** The current count of one series (0 if never incremented). */
  get(labels?: Labels): number {
    return this.state(labels).value;
  }
}

/** A value that goes up and down; either set, or read from a callback at each scrape. */
export class Gauge extends Labelled<{ value: number; read?: () => number }> {
  protected readonly type = 'gauge';
  protected fresh() {
    return { value: 0 };
  }
  protected lines(values: string[], state: { value: number; read?: () => number }): string[] {
    return [`${this.name}${formatLabels(this.labelNames, values)} ${formatValue(state.read ? state.read() : state.value)}`];
  }
  set(labels: Labels, value: number): void {
    this.state(labels).value = value;
  }
  /** Reads the series of `labels` from `read` at every scrape. */
  track(labels: Labels, read: () => number): void {
    this.state(labels).read = read;
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets (`le`), with their sum and count. */
export class Histogram extends Labelled<HistogramState> {
  protected readonly type = 'histogram';

  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    this.buckets = buckets;
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]))) {
      throw new RangeError(`histogram '${name}': buckets must be finite and increasing; got [${buckets.join(', ')}].`);
    }
  }
  protected fresh(): HistogramState {
    return { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
  }
  protected lines(values: string[], state: HistogramState): string[] {
    const out: string[] = [];
    let cumulative = 0;
    this.buckets.forEach((b, i) => {
      cumulative += state.counts[i];
      out.push(`${this.name}_bucket${formatLabels(this.labelNames, values, `le="${formatValue(b)}"`)} ${cumulative}`);
    });
    out.push(`${this.name}_bucket${formatLabels(this.labelNames, values, 'le="+Inf"')} ${state.count}`);
    out.push(`${this.name}_sum${formatLabels(this.labelNames, values)} ${formatValue(state.sum)}`);
    out.push(`${this.name}_count${formatLabels(this.labelNames, values)} ${state.count}`);
    return out;
  }
  observe(labels: Labels, value: number): void {
    this.add(this.state(labels), value);
  }
  /** The series of `labels`, to observe into without looking it up each time (for hot paths). */
  labels(labels: Labels): { observe(value: number): void } {
    const state = this.state(labels);
    return { observe: (value) => this.add(state, value) };
  }
  private add(s: HistogramState, value: number): void {
    const { buckets } = this;
    let i = 0;
    while (i < buckets.length && value > buckets[i]) i++;
    if (i < buckets.length) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  /** Observation count and sum of one series. */
  totals(labels?: Labels): { count: number; sum: number } {
    const s = this.state(labels);
    return { count: s.count, sum: s.sum };
  }
}

/** Holds the metrics of one server and renders them all. */
export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  private add<M extends Metric>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name)) throw new RangeError(`metric '${metric.name}' is registered twice.`);
    this.metrics.push(metric);
    return metric;
  }
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }
  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }
  /** Every metric in the text format, ending with a newline. */
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

/** The content type of {@link MetricsRegistry.render}'s output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
