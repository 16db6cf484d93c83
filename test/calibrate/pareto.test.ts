import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseOperatingPoint, paretoFront, type ParetoStats } from '../../src/calibrate/pareto.ts';
import type { OperatingConstraint, ParetoPoint } from '../../src/calibrate/types.ts';
import { BranchyArgumentError } from '../../src/common/errors.ts';
import { Rng } from '../../src/common/rng.ts';
import { firstPassingExit, getCriterion, type ExitCriterion } from '../../src/exit/index.ts';
import type { AllExitsResult } from '../../src/infer/index.ts';

const CRITERIA = ['entropy', 'normalized-entropy', 'max-prob', 'margin'];

/**
 * A random exit table: each sample has a difficulty shared by all exits, and the true class's logit gets a bonus
 * that grows with the exit, so later exits are more accurate and confidence is correlated across exits. With
 * `coarse`, logits are small integers, so many samples share a probability vector and scores tie.
 */
function randomTable(count: number, exits: number, classes: number, seed: number, coarse = false): { table: AllExitsResult; labels: Uint8Array } {
  const rng = new Rng(seed);
  const labels = new Uint8Array(count).map(() => rng.int(classes));
  const difficulty = Array.from({ length: count }, () => rng.normal());
  const probs = Array.from({ length: exits }, (_, e) => {
    const p = new Float32Array(count * classes);
    for (let i = 0; i < count; i++) {
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        const bonus = c === labels[i] ? 0.5 + 0.8 * e - 0.7 * difficulty[i] : 0;
        const logit = coarse ? rng.int(3) + Math.round(bonus) : rng.normal() * 1.2 + bonus;
        p[i * classes + c] = Math.exp(logit);
        sum += p[i * classes + c];
      }
      for (let c = 0; c < classes; c++) p[i * classes + c] /= sum;
    }
    return p;
  });
  return { table: { count, classes, probs }, labels };
}

/** Increasing costs with uneven steps, so that different exit mixes rarely cost the same by accident. */
const costsFor = (exits: number): number[] => Array.from({ length: exits }, (_, n) => 1 + 1.37 * n + 0.21 * n * n);

function argmax(p: Float32Array, o: number, n: number): number {
  let b = 0;
  for (let c = 1; c < n; c++) if (p[o + c] > p[o + b]) b = c;
  return b;
}

function scoresOf(table: AllExitsResult, criterion: ExitCriterion): number[][] {
  const C = table.classes;
  return Array.from({ length: table.count }, (_, i) => table.probs.map((p) => criterion.score(p, C, i * C)));
}

/** What a threshold vector gives when applied with the reference rule. */
function apply(table: AllExitsResult, labels: Uint8Array, scores: number[][], thresholds: number[], costs: number[]) {
  const C = table.classes;
  const counts = new Array<number>(table.probs.length).fill(0);
  let right = 0;
  for (let i = 0; i < table.count; i++) {
    const e = firstPassingExit(scores[i], thresholds);
    counts[e]++;
    if (argmax(table.probs[e], i * C, C) === labels[i]) right++;
  }
  const exitShare = counts.map((k) => k / table.count);
  return { right, accuracy: right / table.count, exitShare, expectedCost: exitShare.reduce((s, share, n) => s + share * costs[n], 0) };
}

/** Front from "least cost per number right": one point per accuracy, kept when cheaper than every more accurate one. */
function frontOf(bestCost: Map<number, number>, count: number, costs: number[]): { accuracy: number; expectedCost: number }[] {
  const tolerance = 1e-12 * Math.max(...costs);
  const out: { accuracy: number; expectedCost: number }[] = [];
  let cheapestAbove = Infinity;
  for (let right = count; right >= 0; right--) {
    const cost = bestCost.get(right);
    if (cost === undefined || !(cost < cheapestAbove - tolerance)) continue;
    cheapestAbove = cost;
    out.push({ accuracy: right / count, expectedCost: cost });
  }
  return out.reverse();
}

/** Each exit's threshold choices that change a decision: below everything, each distinct score, above everything. */
function cutThresholds(scores: number[][], exit: number): number[] {
  const distinct = [...new Set(scores.map((s) => s[exit]).filter((s) => s < Infinity))].sort((a, b) => a - b);
  return [-Infinity, ...distinct.slice(1), Infinity];
}

/** Brute force: every combination of every cut of every early exit, applied with firstPassingExit. */
function bruteForce(table: AllExitsResult, labels: Uint8Array, criterion: ExitCriterion, costs: number[]) {
  const scores = scoresOf(table, criterion);
  const E = table.probs.length - 1;
  const choices = Array.from({ length: E }, (_, n) => cutThresholds(scores, n));
  const best = new Map<number, number>();
  const thresholds = new Array<number>(E).fill(0);
  const visit = (n: number): void => {
    if (n === E) {
      const r = apply(table, labels, scores, thresholds, costs);
      if (!(best.get(r.right)! <= r.expectedCost)) best.set(r.right, r.expectedCost);
      return;
    }
    for (const t of choices[n]) {
      thresholds[n] = t;
      visit(n + 1);
    }
  };
  visit(0);
  return frontOf(best, table.count, costs);
}

/**
 * Also exhaustive, for tables too big to apply every combination: every combination of the earlier exits' cuts,
 * and for each a plain sweep of the last early exit's cuts over the samples that reach it.
 */
function sweepBruteForce(table: AllExitsResult, labels: Uint8Array, criterion: ExitCriterion, costs: number[]) {
  const scores = scoresOf(table, criterion);
  const { count: N, classes: C } = table;
  const E = table.probs.length - 1;
  const L = E - 1;
  const right = table.probs.map((p) => Array.from({ length: N }, (_, i) => (argmax(p, i * C, C) === labels[i] ? 1 : 0)));
  const choices = Array.from({ length: L }, (_, n) => cutThresholds(scores, n));
  const best = new Map<number, number>();
  const note = (r: number, cost: number) => {
    if (!(best.get(r)! <= cost)) best.set(r, cost);
  };
  const thresholds = new Array<number>(L).fill(0);
  const visit = (n: number): void => {
    if (n < L) {
      for (const t of choices[n]) {
        thresholds[n] = t;
        visit(n + 1);
      }
      return;
    }
    let r = 0;
    let cost = 0;
    const reaching: number[] = [];
    for (let i = 0; i < N; i++) {
      const e = thresholds.findIndex((t, m) => scores[i][m] < t);
      if (e >= 0) {
        r += right[e][i];
        cost += costs[e];
      } else if (scores[i][L] < Infinity) {
        reaching.push(i);
      } else {
        r += right[E][i];
        cost += costs[E];
      }
    }
    reaching.sort((a, b) => scores[a][L] - scores[b][L]);
    for (const i of reaching) {
      r += right[E][i];
      cost += costs[E];
    }
    note(r, cost / N);
    for (let k = 0; k < reaching.length; k++) {
      const i = reaching[k];
      r += right[L][i] - right[E][i];
      cost += costs[L] - costs[E];
      if (k + 1 === reaching.length || scores[reaching[k + 1]][L] > scores[i][L]) note(r, cost / N);
    }
  };
  visit(0);
  return frontOf(best, N, costs);
}

function assertSameFront(got: ParetoPoint[], want: { accuracy: number; expectedCost: number }[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} points, brute force ${want.length}`);
  got.forEach((p, k) => {
    assert.ok(Math.abs(p.accuracy - want[k].accuracy) <= 1e-12, `${what}: point ${k} accuracy ${p.accuracy}, brute force ${want[k].accuracy}`);
    assert.ok(Math.abs(p.expectedCost - want[k].expectedCost) <= 1e-12, `${what}: point ${k} cost ${p.expectedCost}, brute force ${want[k].expectedCost}`);
  });
}

function assertPointsReproduce(table: AllExitsResult, labels: Uint8Array, criterion: ExitCriterion, costs: number[], front: ParetoPoint[], what: string): void {
  const scores = scoresOf(table, criterion);
  const upper = criterion.range(table.classes)[1];
  const E = table.probs.length - 1;
  const final = apply(table, labels, scores, new Array<number>(E).fill(0), costs);
  front.forEach((p, k) => {
    const r = apply(table, labels, scores, p.thresholds, costs);
    assert.equal(p.accuracy, r.accuracy, `${what}: point ${k} accuracy`);
    assert.ok(Math.abs(p.expectedCost - r.expectedCost) <= 1e-12, `${what}: point ${k} cost ${p.expectedCost} vs ${r.expectedCost}`);
    p.exitShare.forEach((s, n) => assert.ok(Math.abs(s - r.exitShare[n]) <= 1e-12, `${what}: point ${k} share at exit ${n}`));
    assert.ok(Math.abs(p.accuracyDrop - (final.accuracy - p.accuracy)) <= 1e-12, `${what}: point ${k} drop`);
    assert.ok(Math.abs(p.speedUp - costs[E] / p.expectedCost) <= 1e-12 * p.speedUp, `${what}: point ${k} speed-up`);
    p.thresholds.forEach((t, n) => {
      const topScore = Math.max(...scores.map((s) => s[n]).filter((s) => s < Infinity));
      assert.ok(t >= 0 || t <= Math.min(...scores.map((s) => s[n])), `${what}: point ${k} threshold ${n} = ${t} is negative`);
      assert.ok(t <= upper || topScore >= upper, `${what}: point ${k} threshold ${n} = ${t} is above the range though every score is below ${upper}`);
    });
    if (k > 0) {
      assert.ok(p.expectedCost > front[k - 1].expectedCost, `${what}: sorted by cost`);
      assert.ok(p.accuracy > front[k - 1].accuracy, `${what}: more cost buys more accuracy`);
    }
  });
}

describe('exact accuracy/cost Pareto front', () => {
  it('equals brute force over every combination of every cut on small random tables, ties included', () => {
    const criterion = getCriterion('entropy');
    let tables = 0;
    for (let seed = 1; seed <= 36; seed++) {
      const E = 1 + (seed % 3);
      const count = E === 3 ? 8 + (seed % 14) : 10 + ((seed * 7) % 31);
      const classes = 2 + (seed % 3);
      const { table, labels } = randomTable(count, E + 1, classes, seed, seed % 2 === 0);
      const costs = costsFor(E + 1);
      const front = paretoFront(table, labels, criterion, costs);
      assertSameFront(front, bruteForce(table, labels, criterion, costs), `seed ${seed} (${E} early exits, ${count} samples, ${classes} classes)`);
      tables++;
    }
    assert.equal(tables, 36);
  });

  it('equals an exhaustive search on tables large enough to use every pruning rule', () => {
    const criterion = getCriterion('entropy');
    for (const [E, count, seed] of [
      [1, 900, 101],
      [2, 600, 102],
      [3, 160, 103],
    ] as const) {
      const { table, labels } = randomTable(count, E + 1, 3, seed);
      const costs = costsFor(E + 1);
      let stats: ParetoStats | undefined;
      const front = paretoFront(table, labels, criterion, costs, { onStats: (s) => (stats = s) });
      assertSameFront(front, sweepBruteForce(table, labels, criterion, costs), `${E} early exits, ${count} samples`);
      assertPointsReproduce(table, labels, criterion, costs, front, `${E} early exits, ${count} samples`);
      if (E === 2) assert.ok(stats!.candidates[E - 1] > 128, `the swept exit has ${stats!.candidates[E - 1]} candidates; the test wants superblocks in use`);
      // Skipping a cut whose bad samples left earlier needs an enumerated exit before it, so three early exits.
      if (E > 1) assert.ok(stats!.pruned + stats!.breaks > 0, `search counters ${JSON.stringify(stats)}`);
      if (E === 3) assert.ok(stats!.skipped > 0 && stats!.breaks > 0, `search counters ${JSON.stringify(stats)}`);
    }
  });

  it('reports for every point the accuracy, cost, exit shares, drop and speed-up its thresholds give, sorted by cost', () => {
    const criterion = getCriterion('entropy');
    for (let seed = 40; seed < 52; seed++) {
      const E = 1 + (seed % 3);
      const { table, labels } = randomTable(60, E + 1, 4, seed, seed % 3 === 0);
      const costs = costsFor(E + 1);
      const front = paretoFront(table, labels, criterion, costs);
      assert.ok(front.length > 0);
      assertPointsReproduce(table, labels, criterion, costs, front, `seed ${seed}`);
    }
  });

  it('equals brute force for all four criteria', () => {
    for (const name of CRITERIA) {
      const criterion = getCriterion(name);
      for (let seed = 60; seed < 66; seed++) {
        const E = 1 + (seed % 3);
        const count = E === 3 ? 14 : 30;
        const { table, labels } = randomTable(count, E + 1, 3, seed, seed % 2 === 1);
        const costs = costsFor(E + 1);
        const front = paretoFront(table, labels, criterion, costs);
        assertSameFront(front, bruteForce(table, labels, criterion, costs), `${name}, seed ${seed}`);
        assertPointsReproduce(table, labels, criterion, costs, front, `${name}, seed ${seed}`);
      }
    }
  });

  it('lets samples scoring at the top of the range leave, with a threshold just above it only when that is needed', () => {
    // Rows [0.5, 0.5, 0] score exactly 1 under margin, the top of its range: only a threshold above 1 lets them out.
    const { table, labels } = randomTable(24, 3, 3, 7);
    for (const i of [2, 5, 11, 17]) table.probs[0].set([0.5, 0.5, 0], i * 3);
    const criterion = getCriterion('margin');
    const costs = costsFor(3);
    const front = paretoFront(table, labels, criterion, costs);
    assertSameFront(front, bruteForce(table, labels, criterion, costs), 'margin with tied top scores');
    assertPointsReproduce(table, labels, criterion, costs, front, 'margin with tied top scores');
    // The cheapest point sends everyone out at the first exit, the tied rows too.
    assert.equal(front[0].exitShare[0], 1);
    assert.ok(front[0].thresholds[0] > 1 && front[0].thresholds[0] < 1 + 1e-6);
  });

  it('clamps "everyone leaves" to the range maximum when every score is below it', () => {
    const { table, labels } = randomTable(30, 2, 4, 8);
    const criterion = getCriterion('max-prob');
    const front = paretoFront(table, labels, criterion, costsFor(2));
    assert.equal(front[0].exitShare[0], 1);
    assert.equal(front[0].thresholds[0], criterion.range(4)[1]);
  });

  it('always has a point at least as good as sending every sample to the final exit', () => {
    for (let seed = 70; seed < 80; seed++) {
      const E = 1 + (seed % 3);
      const { table, labels } = randomTable(50, E + 1, 3, seed);
      const costs = costsFor(E + 1);
      const front = paretoFront(table, labels, getCriterion('entropy'), costs);
      assert.ok(
        front.some((p) => p.accuracyDrop <= 0 && p.expectedCost <= costs[E] + 1e-12),
        `seed ${seed}`,
      );
    }
  });

  it('with no early exits, is the final exit alone', () => {
    const { table, labels } = randomTable(20, 1, 3, 9);
    const front = paretoFront(table, labels, getCriterion('entropy'), [2.5]);
    assert.equal(front.length, 1);
    assert.deepEqual(front[0].thresholds, []);
    assert.deepEqual(front[0].exitShare, [1]);
    assert.equal(front[0].expectedCost, 2.5);
    assert.equal(front[0].speedUp, 1);
    assert.equal(front[0].accuracyDrop, 0);
  });

  it('never lets a NaN score leave, and still matches brute force', () => {
    const { table, labels } = randomTable(20, 3, 3, 10);
    for (const i of [1, 4, 9]) table.probs[0].fill(Number.NaN, i * 3, i * 3 + 3);
    const criterion = getCriterion('entropy');
    const costs = costsFor(3);
    const front = paretoFront(table, labels, criterion, costs);
    assertSameFront(front, bruteForce(table, labels, criterion, costs), 'NaN scores');
    assertPointsReproduce(table, labels, criterion, costs, front, 'NaN scores');
  });

  it('rejects tables, labels and costs it cannot use, naming the argument and the value', () => {
    const { table, labels } = randomTable(10, 3, 3, 11);
    const criterion = getCriterion('entropy');
    const code = (code: string, pattern: RegExp) => (e: unknown) => e instanceof BranchyArgumentError && e.code === code && pattern.test(e.message);
    assert.throws(() => paretoFront(table, labels, criterion, [1, 2]), code('CALIBRATE_BAD_COSTS', /'costToExit'.*2 value/));
    assert.throws(() => paretoFront(table, labels, criterion, [1, 3, 2]), code('CALIBRATE_BAD_COSTS', /'costToExit\[2\]' is 2 after 3/));
    assert.throws(() => paretoFront(table, labels, criterion, [1, Number.NaN, 2]), code('CALIBRATE_BAD_COSTS', /'costToExit\[1\]' is NaN/));
    assert.throws(() => paretoFront(table, labels, criterion, [0, 0, 0]), code('CALIBRATE_BAD_COSTS', /'costToExit\[2\]' is 0/));
    assert.throws(() => paretoFront(table, labels.subarray(0, 9), criterion, [1, 2, 3]), code('CALIBRATE_BAD_LABELS', /length 9.*\(10\)/));
    assert.throws(() => paretoFront({ ...table, count: 0 }, labels, criterion, [1, 2, 3]), code('CALIBRATE_BAD_TABLE', /count 0/));
    const short = { ...table, probs: [table.probs[0], table.probs[1].subarray(0, 5), table.probs[2]] };
    assert.throws(() => paretoFront(short, labels, criterion, [1, 2, 3]), code('CALIBRATE_BAD_TABLE', /'table\.probs\[1\]'.*length 5.*30/));
  });
});

describe('choosing an operating point on the front', () => {
  const { table, labels } = randomTable(400, 3, 4, 21);
  const costs = [1, 2.2, 3.5];
  const front = paretoFront(table, labels, getCriterion('entropy'), costs);
  const finalAccuracy = front[0].accuracy + front[0].accuracyDrop;

  it('for maxDrop, picks the cheapest point within the drop, and counts whole samples exactly at the bound', () => {
    assert.ok(front.length > 5);
    for (const maxDrop of [0, 0.0025, 0.01, 0.05]) {
      const p = chooseOperatingPoint(front, { maxDrop });
      assert.ok(p.accuracyDrop <= maxDrop + 1e-12);
      for (const q of front) if (q.expectedCost < p.expectedCost) assert.ok(q.accuracyDrop > maxDrop, `maxDrop ${maxDrop}: a cheaper point qualifies`);
    }
    // A drop of exactly 1 sample in 400 must qualify despite 0.0025 not being exact in binary.
    const oneSample = front.find((q) => Math.round(q.accuracyDrop * 400) === 1);
    if (oneSample !== undefined) assert.ok(chooseOperatingPoint(front, { maxDrop: 0.0025 }).expectedCost <= oneSample.expectedCost);
  });

  it('for minAccuracy, picks the cheapest point at least that accurate', () => {
    const minAccuracy = finalAccuracy - 0.02;
    const p = chooseOperatingPoint(front, { minAccuracy });
    assert.ok(p.accuracy >= minAccuracy - 1e-12);
    for (const q of front) if (q.expectedCost < p.expectedCost) assert.ok(q.accuracy < minAccuracy);
  });

  it('for targetSpeedup, picks the most accurate point at least that much faster than the final exit alone', () => {
    for (const targetSpeedup of [1, 1.5, 2]) {
      const p = chooseOperatingPoint(front, { targetSpeedup });
      assert.ok(costs[2] / p.expectedCost >= targetSpeedup * (1 - 1e-12));
      for (const q of front)
        if (q.accuracy > p.accuracy) assert.ok(q.speedUp < targetSpeedup, `targetSpeedup ${targetSpeedup}: a more accurate point qualifies`);
    }
  });

  it('for maxCost, picks the most accurate point within the cost', () => {
    const maxCost = 1.8;
    const p = chooseOperatingPoint(front, { maxCost });
    assert.ok(p.expectedCost <= maxCost);
    for (const q of front) if (q.accuracy > p.accuracy) assert.ok(q.expectedCost > maxCost);
    // The bound is inclusive: a point's own cost selects it.
    assert.equal(chooseOperatingPoint(front, { maxCost: front[3].expectedCost }), front[3]);
  });

  it('accepts any subset of the front in any order', () => {
    const shuffled = [...front].reverse().filter((_, k) => k % 2 === 0);
    const p = chooseOperatingPoint(shuffled, { maxDrop: 0.01 });
    for (const q of shuffled) if (q.accuracyDrop <= 0.01 + 1e-12) assert.ok(q.expectedCost >= p.expectedCost);
  });

  it('when nothing qualifies, throws CALIBRATE_IMPOSSIBLE naming the constraint and the closest reachable point', () => {
    const mostAccurate = front[front.length - 1];
    const cheapest = front[0];
    const impossible = (constraint: OperatingConstraint, closest: ParetoPoint) => (e: unknown) => {
      assert.ok(e instanceof BranchyArgumentError);
      assert.equal(e.code, 'CALIBRATE_IMPOSSIBLE');
      const [key, value] = Object.entries(constraint)[0];
      assert.match(e.message, new RegExp(`\\{ ${key}: ${value} \\}`));
      assert.ok(e.message.includes(`accuracy ${(closest.accuracy * 100).toFixed(2)}%`), e.message);
      assert.ok(e.message.includes(`expected cost ${Number(closest.expectedCost.toPrecision(4))}`), e.message);
      assert.ok(e.message.includes(`speed-up ${closest.speedUp.toFixed(2)}x`), e.message);
      return true;
    };
    assert.throws(() => chooseOperatingPoint(front, { minAccuracy: 1.01 }), impossible({ minAccuracy: 1.01 }, mostAccurate));
    assert.throws(() => chooseOperatingPoint(front, { maxDrop: -0.5 }), impossible({ maxDrop: -0.5 }, mostAccurate));
    assert.throws(() => chooseOperatingPoint(front, { targetSpeedup: 50 }), impossible({ targetSpeedup: 50 }, cheapest));
    assert.throws(() => chooseOperatingPoint(front, { maxCost: 0.5 }), impossible({ maxCost: 0.5 }, cheapest));
  });

  it('rejects a constraint that is not exactly one finite bound, and an empty front', () => {
    const bad = (e: unknown) => e instanceof BranchyArgumentError && e.code === 'CALIBRATE_BAD_CONSTRAINT' && /'constraint' is/.test(e.message);
    assert.throws(() => chooseOperatingPoint(front, {} as OperatingConstraint), bad);
    assert.throws(
      () => chooseOperatingPoint(front, { maxDrop: Number.NaN }),
      (e: unknown) => bad(e) && /maxDrop: NaN/.test((e as Error).message),
    );
    assert.throws(() => chooseOperatingPoint(front, { maxDrop: 0.01, maxCost: 2 } as OperatingConstraint), bad);
    assert.throws(() => chooseOperatingPoint(front, { targetSpeedup: 0 }), bad);
    assert.throws(() => chooseOperatingPoint(front, { speed: 2 } as unknown as OperatingConstraint), bad);
    assert.throws(
      () => chooseOperatingPoint([], { maxDrop: 0.01 }),
      (e: unknown) => e instanceof BranchyArgumentError && e.code === 'CALIBRATE_EMPTY_FRONT',
    );
  });
});
