import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCount, formatMs, formatPercent, formatPoints, formatSeconds, formatSpeedup, formatThreshold } from '../../src/report/format.ts';

describe('report number formats', () => {
  it('formats percent with 2 decimals, ms with 3, speed-ups with 2', () => {
    assert.equal(formatPercent(0.98765), '98.77%');
    assert.equal(formatPercent(1), '100.00%');
    assert.equal(formatMs(0.21349), '0.213 ms');
    assert.equal(formatMs(12), '12.000 ms');
    assert.equal(formatSpeedup(1.8349), '1.83×');
    assert.equal(formatCount(1281600), '1,281,600');
  });

  it('signs point differences, and gives a rounded zero no sign', () => {
    assert.equal(formatPoints(0.0012), '+0.12 pts');
    assert.equal(formatPoints(-0.003), '-0.30 pts');
    assert.equal(formatPoints(-0.00000001), '±0.00 pts');
  });

  it('spells out infinite thresholds and missing numbers', () => {
    assert.equal(formatThreshold(Infinity), '∞');
    assert.equal(formatThreshold(-Infinity), '-∞');
    assert.equal(formatThreshold(0.5), '0.500');
    assert.equal(formatPercent(NaN), '–');
    assert.equal(formatMs(NaN), '–');
  });

  it('formats durations', () => {
    assert.equal(formatSeconds(42.34), '42.3 s');
    assert.equal(formatSeconds(187.4), '3 min 7 s');
  });
});
