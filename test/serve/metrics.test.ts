import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricsRegistry } from '../../src/serve/metrics.ts';

describe('Prometheus text exposition', () => {
  it('renders counters, gauges and histograms with HELP, TYPE and labels', () => {
    const r = new MetricsRegistry();
    const c = r.counter('x_requests_total', 'Requests.', ['status']);
    c.inc({ status: '200' });
    c.inc({ status: '200' }, 2);
    c.inc({ status: '503' });
    const g = r.gauge('x_queue_depth', 'Queued samples.', ['model']);
    let depth = 3;
    g.track({ model: 'm' }, () => depth);
    const h = r.histogram('x_latency_seconds', 'Latency.', [], [0.1, 1]);
    h.observe({}, 0.05);
    h.observe({}, 0.5);
    h.observe({}, 5);
    depth = 7;
    assert.equal(
      r.render(),
      [
        '# HELP x_requests_total Requests.',
        '# TYPE x_requests_total counter',
        'x_requests_total{status="200"} 3',
        'x_requests_total{status="503"} 1',
        '# HELP x_queue_depth Queued samples.',
        '# TYPE x_queue_depth gauge',
        'x_queue_depth{model="m"} 7',
        '# HELP x_latency_seconds Latency.',
        '# TYPE x_latency_seconds histogram',
        'x_latency_seconds_bucket{le="0.1"} 1',
        'x_latency_seconds_bucket{le="1"} 2',
        'x_latency_seconds_bucket{le="+Inf"} 3',
        'x_latency_seconds_sum 5.55',
        'x_latency_seconds_count 3',
        '',
      ].join('\n'),
    );
  });

  it('escapes label values and refuses a metric registered twice or unordered buckets', () => {
    const r = new MetricsRegistry();
    r.counter('x_total', 'X.', ['path']).inc({ path: 'a"b\\c\nd' });
    assert.match(r.render(), /x_total\{path="a\\"b\\\\c\\nd"\} 1/);
    assert.throws(() => r.counter('x_total', 'again'), /registered twice/);
    assert.throws(() => r.histogram('y', 'Y.', [], [1, 1]), /increasing/);
  });
});
