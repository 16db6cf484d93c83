import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OperatingPoint } from '../../src/calibrate/types.ts';
import { LoadAdaptiveController, batchedCosts } from '../../src/serve/adaptive.ts';

/** A front of 10 points, cheapest first: cost 1.0 … 1.9 ms, accuracy 0.90 … 0.99. */
const front: OperatingPoint[] = Array.from({ length: 10 }, (_, i) => ({
  thresholds: [1 - i / 10],
  accuracy: 0.9 + i / 100,
  expectedCost: 1 + i / 10,
  exitShare: [1 - i / 10, i / 10],
}));
const CHOSEN = 8;
const SLO = 50;
const options = { sloMs: SLO, windowMs: 1000, holdMs: 250, minObservations: 20 };

/** Feeds `ms`-long request latencies and a busy share `busy` for `durationMs` of fake time, 10 requests per 10 ms. */
function drive(c: LoadAdaptiveController, clock: { t: number }, durationMs: number, ms: number, busy: number): number[] {
  const visited: number[] = [];
  for (const end = clock.t + durationMs; clock.t < end; clock.t += 10) {
    for (let i = 0; i < 10; i++) c.observeLatency(clock.t, ms);
    c.observeBusy(clock.t, 10 * busy);
    c.update(clock.t);
    visited.push(c.current().index);
  }
  return visited;
}

describe('load-adaptive controller', () => {
  it('starts at the calibrated choice and stays there while latency is within the SLO', () => {
    const clock = { t: 0 };
    const c = new LoadAdaptiveController(front, CHOSEN, options, clock.t);
    assert.equal(c.current().index, CHOSEN);
    const visited = drive(c, clock, 5000, 0.6 * SLO, 0.5);
    assert.ok(visited.every((i) => i === CHOSEN));
    assert.deepEqual(c.current().thresholds, front[CHOSEN].thresholds);
    assert.equal(c.current().accuracy, front[CHOSEN].accuracy);
  });

  it('steps to cheaper points while p99 is above the SLO, at most once per hold period', () => {
    const clock = { t: 0 };
    const c = new LoadAdaptiveController(front, CHOSEN, options, clock.t);
    const visited = drive(c, clock, 1000, 2 * SLO, 1);
    const moves = visited.filter((v, i) => v !== (i === 0 ? CHOSEN : visited[i - 1])).length;
    assert.ok(moves >= 2 && moves <= 1000 / 250, `${moves} moves`);
    assert.ok(
      visited.every((v, i) => v <= (i === 0 ? CHOSEN : visited[i - 1])),
      'only cheaper',
    );
    drive(c, clock, 5000, 2 * SLO, 1);
    assert.equal(c.current().index, 0, 'ends at the cheapest point while overloaded');
  });

  it('each step costs at most 0.85 of the point before, or is the next cheaper one', () => {
    const clock = { t: 0 };
    const c = new LoadAdaptiveController(front, 9, options, clock.t);
    drive(c, clock, 260, 2 * SLO, 1);
    const to = c.current().index;
    assert.ok(front[to].expectedCost <= 0.85 * front[9].expectedCost);
    assert.ok(front[to + 1].expectedCost > 0.85 * front[9].expectedCost, 'the most accurate such point');
  });

  it('judges steps by the costs it is given: the batched cost of each point from the calibrated profile', () => {
    // Batched, exit 2 costs 4x exit 1 (at batch 1 only 1.9x): points differ more in cost, so one step goes less far.
    const costs = batchedCosts(front, [0.1, 0.4]);
    assert.ok(Math.abs(costs[9] - (0.1 * 0.1 + 0.9 * 0.4)) < 1e-12);
    const clock = { t: 0 };
    const c = new LoadAdaptiveController(front, 9, { ...options, costs }, clock.t);
    drive(c, clock, 260, 2 * SLO, 1);
    const to = c.current().index;
    assert.ok(costs[to] <= 0.85 * costs[9] && costs[to + 1] > 0.85 * costs[9], `stepped to ${to}`);
    const byBatch1 = new LoadAdaptiveController(front, 9, options, 0);
    drive(byBatch1, { t: 0 }, 260, 2 * SLO, 1);
    assert.ok(byBatch1.current().index < to, 'batch-1 costs would have stepped further');
    assert.throws(
      () => new LoadAdaptiveController(front, 9, { ...options, costs: [1, 2] }, 0),
      (e: Error & { code?: string }) => e.code === 'SERVE_BAD_FRONT',
    );
  });

  it('holds a cheaper point without oscillating while the forecast load at the costlier one is too high', () => {
    const clock = { t: 0 };
    const c = new LoadAdaptiveController(front, CHOSEN, options, clock.t);
    drive(c, clock, 3000, 2 * SLO, 1);
    const held = c.current().index;
    // Latency is fine now, but the model is 80% busy: a costlier point would be over the 70% utilisation ceiling.
    const visited = drive(c, clock, 10_000, 0.1 * SLO, 0.8);
    assert.ok(
      visited.every((i) => i === held),
      `moved: ${[...new Set(visited)]}`,
    );
  });

  it('steps back toward the calibrated choice when load falls, never past it', () => {
    const clock = { t: 0 };
    const c = new LoadAdaptiveController(front, CHOSEN, options, clock.t);
    drive(c, clock, 3000, 2 * SLO, 1);
    assert.ok(c.current().index < CHOSEN);
    const visited = drive(c, clock, 10_000, 0.1 * SLO, 0.2);
    assert.ok(
      visited.every((v, i) => v >= (i === 0 ? 0 : visited[i - 1])),
      'only costlier',
    );
    assert.equal(c.current().index, CHOSEN);
  });

  it('steps back when the server is idle (no observations for a window)', () => {
    const clock = { t: 0 };
    const c = new LoadAdaptiveController(front, CHOSEN, options, clock.t);
    drive(c, clock, 3000, 2 * SLO, 1);
    for (let k = 0; k < 100; k++) c.update((clock.t += 250));
    assert.equal(c.current().index, CHOSEN);
  });

  it('refuses an empty front, a chosen index outside it and a bad SLO', () => {
    assert.throws(() => new LoadAdaptiveController([], 0, options, 0), /SERVE_BAD_FRONT|front has 0 points/);
    assert.throws(
      () => new LoadAdaptiveController(front, 10, options, 0),
      (e: Error & { code?: string }) => e.code === 'SERVE_BAD_FRONT',
    );
    assert.throws(
      () => new LoadAdaptiveController(front, 1, { sloMs: 0 }, 0),
      (e: Error & { code?: string }) => e.code === 'SERVE_BAD_SLO',
    );
  });
});
