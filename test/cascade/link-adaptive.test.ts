import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchyCascadeError } from '../../src/cascade/errors.ts';
import { LinkAdaptiveController, type LinkAdaptiveOptions } from '../../src/cascade/link-adaptive.ts';
import type { PlanFront } from '../../src/cascade/types.ts';

/** A 2-exit front, cheapest first: the share going on to exit 2 (over the link) grows with the point's cost. */
const FRONT: PlanFront = {
  criterion: 'entropy',
  chosen: 3,
  points: [
    { thresholds: [9], accuracy: 0.9, expectedCost: 1, exitShare: [1, 0] },
    { thresholds: [2], accuracy: 0.95, expectedCost: 1.1, exitShare: [0.997, 0.003] },
    { thresholds: [1], accuracy: 0.97, expectedCost: 1.3, exitShare: [0.99, 0.01] },
    { thresholds: [0.5], accuracy: 0.98, expectedCost: 1.8, exitShare: [0.96, 0.04] },
    { thresholds: [0.1], accuracy: 0.985, expectedCost: 4, exitShare: [0.8, 0.2] },
  ],
};
const HEADER = 300;
const SAMPLE = 18_000;
const frameBytes = (n: number) => HEADER + SAMPLE * n;

/** A controller at SLO 60 ms, and a way to feed it a second of traffic over a link of `mbit` and `rttMs`. */
function setup(options: Partial<LinkAdaptiveOptions> = {}) {
  let now = 0;
  const c = new LinkAdaptiveController(FRONT, 1, frameBytes, { sloMs: 60, ...options }, now);
  /** 50 samples a second, 3 ms of own time a batch, a probe and a one-sample hop each 100 ms; 2 ms at the successor. */
  const second = (mbit: number, rttMs: number, spikeEvery = 0) => {
    for (let i = 0; i < 10; i++) {
      now += 100;
      for (let k = 0; k < 5; k++) c.observeBatch(now, 1, 3);
      c.observeHop({ ms: rttMs + (HEADER * 8) / (mbit * 1000), serviceMs: 0.1, sentBytes: HEADER, samples: 0 }, now);
      c.observeHop(
        {
          ms: rttMs + (frameBytes(1) * 8) / (mbit * 1000) + 2 + (spikeEvery > 0 && i % spikeEvery === 0 ? 40 : 0),
          serviceMs: 2,
          sentBytes: frameBytes(1),
          samples: 1,
        },
        now,
      );
      c.observeLatency(now, 5);
      c.update(now);
    }
  };
  return { c, second, now: () => now };
}

describe('LinkAdaptiveController', () => {
  it('keeps the plan’s point until the link is measured', () => {
    const { c } = setup();
    assert.deepEqual(c.forecast(0), []);
    assert.equal(c.update(10_000), undefined);
    assert.equal(c.current().index, 3);
    assert.equal(c.estimate(0).rttMs, null);
    assert.equal(c.estimate(0).mbitPerS, null);
  });

  it('measures the round trip from probes and the bandwidth from hops that carry features', () => {
    const { c, second, now } = setup();
    second(10, 20);
    const e = c.estimate(now());
    assert.ok(Math.abs(e.rttMs! - 20) < 0.5, `rtt ${e.rttMs}`);
    assert.ok(Math.abs(e.mbitPerS! - 10) < 0.2, `bandwidth ${e.mbitPerS}`);
    assert.ok(Math.abs(e.serviceMs - 2) < 1e-9);
    assert.ok(Math.abs(e.arrivalsPerS - 50) < 1, `arrivals ${e.arrivalsPerS}`);
    assert.equal(e.hops, 20);
  });

  it('stays at the plan’s point on a fast link, steps to a cheaper point when the link slows, and back when it recovers', () => {
    const { c, second } = setup();
    second(10, 20);
    second(10, 20);
    assert.equal(c.current().index, 3, 'at 10 Mbit/s a forwarded sample takes ~40 ms, under the 60 ms SLO');
    const forecast = c.forecast(2000);
    assert.ok(forecast[3].forwardedMs > 38 && forecast[3].forwardedMs < 42, `forwarded ${forecast[3].forwardedMs}`);
    assert.ok(forecast[3].overSloShare <= 0.005);

    second(2, 20);
    // At 2 Mbit/s one frame takes 72 ms: every forwarded sample breaks the SLO, so at most 0.5% may go on.
    assert.equal(c.current().index, 1);
    assert.ok(c.forecast(3000)[3].overSloShare > 0.03);

    // Back once the late hops of the change have left the 5 s window, one move per 2 s hold.
    for (let i = 0; i < 6; i++) second(10, 20);
    assert.equal(c.current().index, 3);
  });

  it('counts the hops that came late: one in five 40 ms over the estimate breaks a 60 ms SLO at 4% forwarded', () => {
    const { c, second } = setup();
    second(10, 20);
    assert.equal(c.current().index, 3);
    second(10, 20, 5);
    second(10, 20, 5);
    assert.ok(c.current().index < 3, `point ${c.current().index}`);
  });

  it('never uses a point costlier than the plan’s, however fast the link', () => {
    const { c, second } = setup();
    for (let i = 0; i < 5; i++) second(1000, 0.2);
    assert.equal(c.current().index, 3);
  });

  it('counts the link’s queue: at enough load a fast link is a bottleneck too', () => {
    // 50 samples/s × 20% forwarded × 14.4 ms a frame at 10 Mbit/s: utilisation 0.14 at point 4, 0.03 at point 3.
    const front: PlanFront = { ...FRONT, chosen: 4 };
    const c = new LinkAdaptiveController(front, 1, frameBytes, { sloMs: 40 }, 0);
    let now = 0;
    for (let i = 0; i < 50; i++) {
      now += 100;
      for (let k = 0; k < 5; k++) c.observeBatch(now, 1, 3);
      c.observeHop({ ms: 20.24, serviceMs: 0, sentBytes: HEADER, samples: 0 }, now);
      c.observeHop({ ms: 20 + 14.64 + 2, serviceMs: 2, sentBytes: frameBytes(1), samples: 1 }, now);
    }
    const f = c.forecast(now);
    assert.ok(f[4].linkUtilization > f[3].linkUtilization * 4);
    assert.ok(f[4].overSloShare > f[3].overSloShare);
  });

  it('refuses an SLO or tuning it cannot use', () => {
    for (const options of [{ sloMs: 0 }, { sloMs: -1 }, { sloMs: NaN }, { sloMs: 50, margin: 0 }, { sloMs: 50, alpha: 2 }]) {
      assert.throws(
        () => new LinkAdaptiveController(FRONT, 1, frameBytes, options, 0),
        (e: unknown) => e instanceof BranchyCascadeError && e.code === 'CASCADE_BAD_SLO',
      );
    }
  });
});
