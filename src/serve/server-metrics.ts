/**
 * The metric families the HTTP server exports on `/metrics`: their names, help texts, labels and buckets, in the
 * order they are rendered.
 *
 * @module
 */
import { MetricsRegistry, type Counter, type Gauge, type Histogram } from './metrics.ts';

/** Every metric family of a server, registered in {@link ServerMetrics.registry}. */
export interface ServerMetrics {
  /** Renders `/metrics`. */
  registry: MetricsRegistry;
  /** `branchy_http_requests_total{route, method, status}`. */
  requests: Counter;
  /** `branchy_http_errors_total{code}`. */
  errors: Counter;
  /** `branchy_http_request_duration_seconds{route}`. */
  duration: Histogram;
  /** `branchy_predict_samples_total{model}`. */
  samples: Counter;
  /** `branchy_exits_total{model, exit}`: exit is 1-based. */
  exits: Counter;
  /** `branchy_batch_size{model}`. */
  batchSizes: Histogram;
  /** `branchy_queue_delay_seconds{model}`. */
  queueDelay: Histogram;
  /** `branchy_queue_depth{model}`. */
  queueDepth: Gauge;
  /** `branchy_operating_point{model}`: adaptive mode only. */
  pointIndex: Gauge;
  /** `branchy_operating_point_accuracy{model}`: adaptive mode only. */
  pointAccuracy: Gauge;
  /** `branchy_operating_point_moves_total{model, direction}`: adaptive mode only. */
  pointMoves: Counter;
}

/** Registers the server's metric families in a fresh registry. */
export function createServerMetrics(registry: MetricsRegistry = new MetricsRegistry()): ServerMetrics {
  return {
    registry,
    requests: registry.counter('branchy_http_requests_total', 'HTTP requests answered, by route, method and status.', ['route', 'method', 'status']),
    errors: registry.counter('branchy_http_errors_total', 'Error replies, by error code.', ['code']),
    duration: registry.histogram(
      'branchy_http_request_duration_seconds',
      'Time from request to reply, by route.',
      ['route'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    samples: registry.counter('branchy_predict_samples_total', 'Samples answered, by model.', ['model']),
    exits: registry.counter('branchy_exits_total', 'Samples answered at each exit (1-based), by model.', ['model', 'exit']),
    batchSizes: registry.histogram('branchy_batch_size', 'Samples per batch run, by model.', ['model'], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
    queueDelay: registry.histogram(
      'branchy_queue_delay_seconds',
      'Time a request waited for its batch, by model.',
      ['model'],
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    ),
    queueDepth: registry.gauge('branchy_queue_depth', 'Samples waiting for a batch, by model.', ['model']),
    pointIndex: registry.gauge(
      'branchy_operating_point',
      'Index of the operating point in force on the calibrated front (cheapest first), by model; adaptive mode only.',
      ['model'],
    ),
    pointAccuracy: registry.gauge('branchy_operating_point_accuracy', 'Validation accuracy of the operating point in force, by model; adaptive mode only.', [
      'model',
    ]),
    pointMoves: registry.counter('branchy_operating_point_moves_total', 'Moves of the load-adaptive controller, by model and direction.', [
      'model',
      'direction',
    ]),
  };
}
