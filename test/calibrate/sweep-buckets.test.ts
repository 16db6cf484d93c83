import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrontSoFar } from '../../src/calibrate/front-so-far.ts';
import { SweepBuckets } from '../../src/calibrate/sweep-buckets.ts';
import { Rng } from '../../src/common/rng.ts';

/** What a sweep reports for one cut: right answers, total cost, cut index, samples leaving. */
type Offer = [right: number, cost: number, cut: number, leaving: number];

/** A swept exit: its cuts, its samples' groups and whether they are right there and at the final exit. */
interface Exit {
  N: number;
  rank: Int32Array;
  cuts: Int32Array;
  correctHere: Uint8Array;
  correctFinal: Uint8Array;
}

/**
 * One swept exit: N samples in K groups (rank K: never passes) and about half the groups' cuts, enough of them
 * (300 or so) to span several blocks and super-blocks.
 */
function swept(seed: number, N = 2000, K = 600): Exit & { rng: Rng } {
  const rng = new Rng(seed);
  const rank = Int32Array.from({ length: N }, () => (rng.next() < 0.05 ? K : rng.int(K)));
  const cutList: number[] = [];
  for (let g = 0; g < K; g++) if (rng.next() < 0.5) cutList.push(g);
  cutList.push(K);
  const correctHere = Uint8Array.from({ length: N }, () => (rng.next() < 0.7 ? 1 : 0));
  const correctFinal = Uint8Array.from({ length: N }, () => (rng.next() < 0.8 ? 1 : 0));
  return { N, rank, cuts: Int32Array.from(cutList), correctHere, correctFinal, rng };
}

const COST_BEFORE = 5000.5;
const SAVING = 1.25;

/** Every cut's point, computed cut by cut over the samples in play. */
function scanCutByCut(t: Exit, inPlay: (i: number) => boolean, rightFixed: number): Offer[] {
  const offers: Offer[] = [];
  for (let j = 0; j < t.cuts.length; j++) {
    let right = rightFixed;
    let leaving = 0;
    for (let i = 0; i < t.N; i++) {
      if (!inPlay(i)) continue;
      const leaves = t.rank[i] < t.cuts[j];
      if (leaves) leaving++;
      right += leaves ? t.correctHere[i] : t.correctFinal[i];
    }
    offers.push([right, COST_BEFORE - leaving * SAVING, j, leaving]);
  }
  return offers;
}

/** Every offer of one sweep; recorded on `front` when given, else the front stays empty and every cut is offered. */
function sweepOffers(buckets: SweepBuckets, N: number, rightFixed: number, front?: FrontSoFar): Offer[] {
  const offers: Offer[] = [];
  const target = front ?? new FrontSoFar(N, 1);
  buckets.sweep(rightFixed, COST_BEFORE, SAVING, target, (right, cost, cut, leaving) => {
    offers.push([right, cost, cut, leaving]);
    if (front !== undefined) front.record(right, cost, Int32Array.of(cut), Int32Array.of(leaving, 0));
  });
  return offers;
}

/**
 * Sweeps over a front holding `points` and replays the sweep cut by cut on a second such front, recording what the
 * sweep offered as it did: every cut no point dominates must be offered, with its right point, and no cut that does
 * not beat its level's best. Returns how many cuts were dominated when reached.
 */
function checkSweep(t: Exit, points: [right: number, cost: number][], what: string): number {
  const buckets = new SweepBuckets(t.cuts, t.rank, t.correctHere, t.correctFinal);
  const [front, reference] = [new FrontSoFar(t.N, 1), new FrontSoFar(t.N, 1)];
  for (const f of [front, reference])
    for (const [right, cost] of points) if (cost < f.bestCost[right]) f.record(right, cost, Int32Array.of(0), Int32Array.of(0, 0));
  const offered = sweepOffers(buckets, t.N, 0, front);
  let next = 0;
  let dominated = 0;
  for (const [right, cost, j, leaving] of scanCutByCut(t, () => true, 0)) {
    const isOffered = next < offered.length && offered[next][2] === j;
    if (cost >= reference.atLeast[right]) dominated++;
    else assert.ok(isOffered, `${what}: cut ${j} is not dominated, yet not offered`);
    if (!isOffered) continue;
    assert.deepEqual(offered[next], [right, cost, j, leaving], `${what}: cut ${j}`);
    assert.ok(cost < reference.bestCost[right], `${what}: cut ${j} offered without beating its level`);
    reference.record(right, cost, Int32Array.of(j), Int32Array.of(leaving, 0));
    next++;
  }
  assert.equal(next, offered.length, `${what}: offers out of order`);
  return dominated;
}

describe('sweep buckets of the last early exit', () => {
  it('on an empty front, offers every cut with the right answers and cost of letting out the samples ranked below it', () => {
    const t = swept(1);
    const buckets = new SweepBuckets(t.cuts, t.rank, t.correctHere, t.correctFinal);
    assert.deepEqual(
      sweepOffers(buckets, t.N, 7),
      scanCutByCut(t, () => true, 7),
    );
  });

  it("offers every cut no point found dominates and none that is no cheaper than its accuracy level's best, though it tests whole blocks at once", () => {
    for (let seed = 2; seed < 12; seed++) {
      const t = swept(seed);
      const all = scanCutByCut(t, () => true, 0);
      // Points near the sweep's own curve, a little to far more accurate and a little cheaper or dearer, so that
      // some cuts, blocks and super-blocks are dominated whole and others only in part.
      const points: [number, number][] = [];
      for (let k = 0; k < 60; k++) {
        const [right, cost] = all[t.rng.int(all.length)];
        points.push([Math.min(t.N, right + t.rng.int([3, 40, 250][k % 3])), cost + (t.rng.int(9) - 4) * SAVING]);
      }
      const dominated = checkSweep(t, points, `seed ${seed}`);
      assert.ok(dominated > all.length / 10, `seed ${seed}: the front should dominate a good share of the cuts`);
    }
  });

  it('enters a block or super-block when a point found only just misses dominating its best corner', () => {
    // Every sample right here and wrong at the final exit, one per group: cut j has j right for j leaving, so the
    // corner a box is tested by (all its gainers, its last cut's cost) is a real cut, and the test has no slack.
    const N = 300;
    const t = {
      N,
      rank: Int32Array.from({ length: N }, (_, i) => i),
      cuts: Int32Array.from({ length: N + 1 }, (_, j) => j),
      correctHere: new Uint8Array(N).fill(1),
      correctFinal: new Uint8Array(N),
    };
    for (let j = 1; j <= N; j++) {
      const cost = COST_BEFORE - j * SAVING;
      // Just dearer than cut j at its accuracy, or cheaper than everything one answer short of it.
      checkSweep(t, [[j, cost + SAVING / 4]], `cut ${j}, dearer`);
      checkSweep(t, [[j - 1, 0]], `cut ${j}, one short`);
    }
  });

  it('leaves out the samples removed, and counts them again once added back', () => {
    const t = swept(12);
    const buckets = new SweepBuckets(t.cuts, t.rank, t.correctHere, t.correctFinal);
    const removed = new Set<number>();
    for (let i = 0; i < t.N; i += 3) {
      buckets.remove(i);
      removed.add(i);
    }
    assert.deepEqual(
      sweepOffers(buckets, t.N, 0),
      scanCutByCut(t, (i) => !removed.has(i), 0),
    );
    for (const i of removed) buckets.add(i);
    assert.deepEqual(
      sweepOffers(buckets, t.N, 0),
      scanCutByCut(t, () => true, 0),
    );
  });

  it('counts a sample that can never leave at the swept exit as right or wrong at the final exit under every cut', () => {
    // Two groups, so rank 2 never passes; sample 2 is wrong here and right at the final exit.
    const cuts = Int32Array.of(0, 2);
    const rank = Int32Array.of(0, 1, 2);
    const buckets = new SweepBuckets(cuts, rank, Uint8Array.of(1, 1, 0), Uint8Array.of(0, 0, 1));
    assert.deepEqual(sweepOffers(buckets, 3, 0), [
      [1, COST_BEFORE, 0, 0],
      [3, COST_BEFORE - 2 * SAVING, 1, 2],
    ]);
  });

  it('after restore, sweeps as at the last save, however many samples were removed since', () => {
    const t = swept(13);
    const buckets = new SweepBuckets(t.cuts, t.rank, t.correctHere, t.correctFinal);
    for (let i = 0; i < t.N; i += 5) buckets.remove(i);
    const atSave = sweepOffers(buckets, t.N, 0);
    buckets.save();
    for (let i = 1; i < t.N; i += 2) if (i % 5 !== 0) buckets.remove(i);
    assert.notDeepEqual(sweepOffers(buckets, t.N, 0), atSave);
    buckets.restore();
    assert.deepEqual(sweepOffers(buckets, t.N, 0), atSave);
  });
});
