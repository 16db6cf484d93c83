import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EvaluatedSample } from '../../src/web/edge-unit.ts';
import { tradeOffAt, tradeOffCurve } from '../../src/web/trade-off.ts';

// Four samples: the browser's one exit is right on the confident two; the server is right on all but the last.
const SAMPLES: EvaluatedSample[] = [
  { scores: [0.1], labels: [1], server: 1, truth: 1 },
  { scores: [0.3], labels: [2], server: 2, truth: 2 },
  { scores: [0.9], labels: [0], server: 3, truth: 3 },
  { scores: [1.5], labels: [4], server: 5, truth: 4 },
];

describe("the threshold's trade-off", () => {
  it('answers in the browser below the threshold, else takes the server’s answer', () => {
    assert.deepEqual(tradeOffAt(SAMPLES, 0), { threshold: 0, browserShare: 0, accuracy: 0.75, offloaded: 4, degraded: 0 });
    assert.deepEqual(tradeOffAt(SAMPLES, 0.5), { threshold: 0.5, browserShare: 0.5, accuracy: 0.75, offloaded: 2, degraded: 0 });
    assert.deepEqual(tradeOffAt(SAMPLES, 2), { threshold: 2, browserShare: 1, accuracy: 0.75, offloaded: 0, degraded: 0 });
    assert.equal(tradeOffAt(SAMPLES, 1).accuracy, 0.5, 'the third sample is wrong in the browser');
  });

  it("takes the browser's last exit, degraded, where the server gave no answer", () => {
    const alone = SAMPLES.map(({ server: _server, ...s }) => s);
    assert.deepEqual(tradeOffAt(alone, 0.5), { threshold: 0.5, browserShare: 0.5, accuracy: 0.75, offloaded: 2, degraded: 2 });
  });

  it('takes the first of several browser exits that passes', () => {
    const two: EvaluatedSample[] = [{ scores: [0.6, 0.2], labels: [7, 8], server: 9, truth: 8 }];
    assert.equal(tradeOffAt(two, 0.5).accuracy, 1);
    assert.equal(tradeOffAt(two, 0.7).accuracy, 0, 'exit 1 passes first');
    assert.equal(tradeOffAt(two, 0.1).accuracy, 0, 'the server answers');
  });

  it('is sampled evenly over the range, share never falling as the threshold rises', () => {
    const curve = tradeOffCurve(SAMPLES, [0, 2], 20);
    assert.equal(curve.length, 21);
    assert.equal(curve[10].threshold, 1);
    for (let i = 1; i < curve.length; i++) assert.ok(curve[i].browserShare >= curve[i - 1].browserShare);
  });
});
