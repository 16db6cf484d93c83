import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseGuardedPoint, guardedFigure, lossCount, rateLowerBound, rateUpperBound, scoreTable } from '../../src/calibrate/guarded-choice.ts';
import { paretoFront } from '../../src/calibrate/pareto.ts';
import { Rng } from '../../src/common/rng.ts';
import { getCriterion } from '../../src/exit/index.ts';
import type { AllExitsResult } from '../../src/infer/index.ts';

const entropy = getCriterion('entropy');

/** Two exits, 2 classes: rows given as [p(class 0) at exit 1, p(class 0) at exit 2]. */
function table(rows: [number, number][]): AllExitsResult {
  const e1 = new Float32Array(rows.flatMap(([a]) => [a, 1 - a]));
  const e2 = new Float32Array(rows.flatMap(([, b]) => [b, 1 - b]));
  return { count: rows.length, classes: 2, probs: [e1, e2] };
}

describe('guarded threshold choice', () => {
  it('Clopper–Pearson bounds match their closed forms at k = 0 and k = n', () => {
    assert.ok(Math.abs(rateUpperBound(0, 1000, 0.95) - (1 - 0.05 ** (1 / 1000))) < 1e-9);
    assert.ok(Math.abs(rateLowerBound(10, 10, 0.95) - 0.05 ** (1 / 10)) < 1e-9);
    assert.equal(rateLowerBound(0, 10, 0.95), 0);
    // Upper bounds grow with the count and with the confidence.
    assert.ok(rateUpperBound(5, 1000, 0.95) > rateUpperBound(4, 1000, 0.95));
    assert.ok(rateUpperBound(5, 1000, 0.99) > rateUpperBound(5, 1000, 0.95));
  });

  it('counts losses (early wrong, final right) and gains (early right, final wrong) of the samples that leave early', () => {
    // Labels all 0. Sample 1: confident and right early; 2: confident and wrong early, right at the end (a loss);
    // 3: confident and right early, wrong at the end (a gain); 4: unsure early, so it goes on.
    const t = table([
      [0.99, 0.9],
      [0.01, 0.9],
      [0.99, 0.2],
      [0.5, 0.9],
    ]);
    const c = lossCount(scoreTable(t, new Uint8Array(4), entropy), [0.2]);
    assert.deepEqual(c, { losses: 1, gains: 1, early: 3, count: 4 });
    assert.equal(guardedFigure(c, { maxLoss: 0.5 }), 0.25);
    assert.equal(guardedFigure({ ...c, early: 0, losses: 0, gains: 0 }, { maxDrop: 0.01, confidence: 0.95 }), 0);
  });

  it('a guard picks a point whose bound is within budget, cheaper with a looser budget, and the final exit alone when nothing else is', () => {
    const rng = new Rng(4);
    const rows: [number, number][] = [];
    for (let i = 0; i < 2000; i++) {
      const easy = rng.next() < 0.7;
      rows.push([easy ? 0.97 + 0.02 * rng.next() : 0.3 + 0.4 * rng.next(), rng.next() < 0.98 ? 0.9 : 0.1]);
    }
    const t = table(rows);
    const labels = new Uint8Array(rows.length);
    const front = paretoFront(t, labels, entropy, [1, 3]);
    const tight = chooseGuardedPoint(front, t, labels, entropy, { maxLoss: 0.0001, confidence: 0.95 });
    assert.equal(tight.point.exitShare[1], 1);
    const loose = chooseGuardedPoint(front, t, labels, entropy, { maxLoss: 0.02, confidence: 0.95 });
    assert.ok(loose.figure <= 0.02 && loose.point.expectedCost < tight.point.expectedCost);
    const unguarded = chooseGuardedPoint(front, t, labels, entropy, { maxLoss: 0.02 });
    assert.ok(unguarded.point.expectedCost <= loose.point.expectedCost);
    assert.throws(() => chooseGuardedPoint(front, t, labels, entropy, { maxLoss: 1.5 }), { code: 'CALIBRATE_BAD_CONSTRAINT' });
    assert.throws(() => chooseGuardedPoint(front, t, labels, entropy, { maxDrop: 0.01, confidence: 1 }), { code: 'CALIBRATE_BAD_CONSTRAINT' });
  });
});
