import { BranchyArgumentError } from '../common/errors.ts';
import type { ExitCriterion } from '../exit/index.ts';
import type { AllExitsResult } from '../infer/index.ts';
import { searchPareto, type ExitOrder, type SearchStats } from './pareto-search.ts';
import type { OperatingConstraint, ParetoPoint } from './types.ts';

/** How much work {@link paretoFront} did, for benchmarks and for judging how hard a table is. */
export interface ParetoStats extends SearchStats {
  /** Per early exit: cuts that change a decision there (distinct scores + 1). */
  distinctCuts: number[];
  /** Per early exit: the cuts left to try after the dominance reduction (see {@link paretoFront}). */
  candidates: number[];
}

/** Options of {@link paretoFront}. */
export interface ParetoOptions {
  /** Called once with the search's work counters. */
  onStats?: (stats: ParetoStats) => void;
  /**
   * Cost per sample of the network without early exits (no branch heads evaluated), the reference of each point's
   * `speedUp`. Default: the final exit's entry of `costToExit`, which includes the branch heads.
   */
  baselineCost?: number;
}

/**
 * The exact accuracy/cost Pareto front over threshold vectors: every threshold vector (one threshold per early
 * exit, applied as in `firstPassingExit`) that no other beats on both accuracy (higher is better) and expected
 * cost (lower is better), sorted by cost (and so by accuracy), one point per distinct (accuracy, cost) pair.
 *
 * Candidate thresholds per exit are the cuts that change a decision: "nobody leaves" (0, or the lowest score if
 * a criterion scores below 0), a midpoint between each pair of consecutive distinct scores (a midpoint rather
 * than a score itself, so a new sample scoring a hair off a validation score is treated like its neighbours), and
 * "everyone reaching the exit leaves": the criterion's upper bound, or, only when a score sits at that bound
 * (e.g. a uniform softmax under entropy), a hair above the top score, which `validateThresholds` would reject.
 * NaN and +∞ scores never pass any threshold and take no part in the cuts. The front is exact over every
 * combination of these candidates.
 *
 * Algorithm (each rule keeps the front exact):
 * 1. Reduction. Raising T_n across a group of equal scores only moves those samples that reach exit n out at n,
 *    from a later exit, which never costs more (costs are non-decreasing). If none of them is "bad" at n
 *    (wrong at n but right at some later exit), accuracy cannot drop either, whatever the other thresholds: the
 *    cut just below such a group is dominated by the cut just above it. So only cuts just below a group holding a
 *    bad sample, plus "everyone leaves", are tried: K'_n of them, about the number of bad samples at n.
 *    During the search a cut is also skipped when the bad samples of its group have already left earlier.
 * 2. Enumeration. The earlier exits' reduced cuts are enumerated depth-first, ascending; the last early exit is
 *    swept: per (sample still reaching it) its first leaving cut is a bucket, so one pass of prefix sums over
 *    K'_(E−1) buckets gives every point of the sweep. Samples leaving at an enumerated exit are unlinked from
 *    the later exits' score orders (dancing links, undone in reverse), so a level walks only samples still
 *    reaching it and bucket sums update in O(1) per sample.
 * 3. Bounds. Accuracy is a whole number of samples, so the best cost found per accuracy level and its suffix
 *    minimum S (least cost with at least A right) are kept exactly; a point (A, c) is dominated iff S[A] ≤ c.
 *    A subtree is dropped when every point of a relaxation is dominated: each sample still in play may leave at
 *    any open exit independently, whose front is "everyone at the first open exit, then upgrade samples wrong
 *    there to their first right exit, cheapest upgrade first". The same test on "every larger cut of this exit"
 *    ends a level's loop early. A sweep tests runs of 128 and then 16 buckets as boxes (at most the run's gains
 *    in accuracy, at least its last cut's cost) before looking at single cuts.
 * 4. Seeding. Passes over every 128th, then every 16th cut of the earlier exits find a near-front cheaply, so
 *    that the exact pass prunes hard from its first step.
 *
 * Complexity, for N samples, C classes, E early exits and K'_n reduced cuts at exit n: preparation
 * O(E·N·(C + log N)); the search is worst case O(K'_0·…·K'_(E−1) + E·N·K'_0·…·K'_(E−3)) (sweeps, plus walks
 * over the samples still reaching each enumerated exit), i.e. exponential in E. The bounds remove most of it on
 * tables whose confidence tracks correctness: with E = 1 it is one sort and one sweep, and 3 early exits over
 * 10 000 samples take a few tenths of a second (`bench/pareto.ts`); each further exit multiplies the time by
 * roughly its number of reduced cuts divided by the pruning. Memory O(E·N).
 *
 * Choose on the validation split, never on the test split; with few samples the front overfits it.
 *
 * @param table every exit's probabilities for every sample (E + 1 exits, final last).
 * @param labels the label of each sample.
 * @param criterion the exit criterion the thresholds are for.
 * @param costToExit cost per sample to reach and evaluate each exit, final last (E + 1 values ≥ 0, non-decreasing,
 *   the last > 0), e.g. `CostProfile.costToExit`.
 * @throws BranchyArgumentError code `CALIBRATE_BAD_TABLE` for a table without samples or exits or with
 *   probability arrays of the wrong length, `CALIBRATE_BAD_LABELS` when the label count differs from the table's,
 *   `CALIBRATE_BAD_COSTS` for costs of the wrong count, not finite, negative or decreasing, or a final cost of 0.
 * @example
 * ```ts
 * const front = paretoFront(await allExitsOver(net, validation), validation.y, getCriterion('entropy'), profile.costToExit);
 * const point = chooseOperatingPoint(front, { maxDrop: 0.005 });
 * ```
 */
export function paretoFront(
  table: AllExitsResult,
  labels: Uint8Array,
  criterion: ExitCriterion,
  costToExit: readonly number[],
  options: ParetoOptions = {},
): ParetoPoint[] {
  checkInputs(table, labels, costToExit);
  const { count: N, classes: C, probs } = table;
  const X = probs.length;
  const E = X - 1;
  const correct = probs.map((p) => {
    const ok = new Uint8Array(N);
    for (let i = 0; i < N; i++) {
      const o = i * C;
      let best = 0;
      for (let c = 1; c < C; c++) if (p[o + c] > p[o + best]) best = c;
      ok[i] = best === labels[i] ? 1 : 0;
    }
    return ok;
  });
  // rightLater: right at some exit after the current one, built from the final exit backwards.
  const rightLater = new Uint8Array(N);
  const exits: ExitOrder[] = new Array<ExitOrder>(E);
  const thresholdOf: ((cut: number) => number)[] = new Array<(cut: number) => number>(E);
  const upper = E > 0 ? criterion.range(C)[1] : 0;
  for (let n = E - 1; n >= 0; n--) {
    const later = correct[n + 1];
    for (let i = 0; i < N; i++) rightLater[i] |= later[i];
    const scores = new Float64Array(N);
    for (let i = 0; i < N; i++) scores[i] = criterion.score(probs[n], C, i * C);
    const { exit, distinct } = orderExit(scores, correct[n], rightLater);
    exits[n] = exit;
    thresholdOf[n] = (cut) => thresholdForCut(distinct, cut, upper);
  }

  const costs = costToExit.slice();
  const result = searchPareto({ count: N, correct, costs, exits });
  options.onStats?.({
    ...result.stats,
    distinctCuts: exits.map((x) => x.groupStart.length),
    candidates: exits.map((x) => x.cuts.length),
  });

  const finalCorrect = correct[E].reduce((a, b) => a + b, 0);
  const finalCost = costs[E];
  // Costs of different cut vectors can be equal in exact arithmetic yet differ in the last bits; treat them as ties.
  const tolerance = 1e-12 * N * Math.max(Math.abs(finalCost), Number.MIN_VALUE);
  const points: ParetoPoint[] = [];
  let cheapestAbove = Infinity;
  for (let A = N; A >= 0; A--) {
    const cost = result.bestCost[A];
    if (!(cost < cheapestAbove - tolerance)) continue;
    cheapestAbove = cost;
    const exitShare = Array.from({ length: X }, (_, n) => result.exitCounts[A * X + n] / N);
    const expectedCost = exitShare.reduce((sum, share, n) => sum + share * costs[n], 0);
    points.push({
      thresholds: Array.from({ length: E }, (_, n) => thresholdOf[n](result.cuts[A * E + n])),
      accuracy: A / N,
      expectedCost,
      exitShare,
      speedUp: (options.baselineCost ?? finalCost) / expectedCost,
      accuracyDrop: (finalCorrect - A) / N,
    });
  }
  return points.reverse();
}

/**
 * The point of `front` that best meets `constraint`: the cheapest one meeting an accuracy bound (`maxDrop`,
 * `minAccuracy`), or the most accurate one meeting a cost bound (`targetSpeedup`, `maxCost`). Bounds are
 * inclusive, with a slack of 1e-12, so that a bound computed in floating point (say `3 / 400`) still admits the
 * point exactly at it.
 *
 * @param front points from {@link paretoFront} (any subset of them, in any order).
 * @throws BranchyArgumentError code `CALIBRATE_IMPOSSIBLE` when no point qualifies (the message names the
 *   constraint and the closest reachable point: the most accurate for an accuracy bound, the cheapest for a cost
 *   bound), `CALIBRATE_BAD_CONSTRAINT` for a constraint that is not exactly one of the four bounds with a finite
 *   value (a positive one for `targetSpeedup`), `CALIBRATE_EMPTY_FRONT` for an empty front.
 * @example
 * ```ts
 * chooseOperatingPoint(front, { targetSpeedup: 2 }); // the most accurate point at least twice as fast as the final exit alone
 * ```
 */
export function chooseOperatingPoint(front: readonly ParetoPoint[], constraint: OperatingConstraint): ParetoPoint {
  const { key, value } = readConstraint(constraint);
  if (!Array.isArray(front) || front.length === 0) {
    throw new BranchyArgumentError(
      'CALIBRATE_EMPTY_FRONT',
      `'front' is ${Array.isArray(front) ? 'an empty array' : describe(front)}; expected the points returned by paretoFront.`,
    );
  }
  const slack = 1e-12;
  const meets = (p: ParetoPoint): boolean => {
    switch (key) {
      case 'maxDrop':
        return p.accuracyDrop <= value + slack;
      case 'minAccuracy':
        return p.accuracy >= value - slack;
      case 'targetSpeedup':
        return p.speedUp >= value * (1 - slack);
      case 'maxCost':
        return p.expectedCost <= value + slack * Math.max(1, Math.abs(value));
    }
  };
  const byAccuracy = key === 'maxDrop' || key === 'minAccuracy';
  // Accuracy bounds want the cheapest qualifying point (ties: the more accurate); cost bounds the most accurate
  // (ties: the cheaper). Ties cannot happen on a front from paretoFront, but a hand-made list may have them.
  const cheaper = (a: ParetoPoint, b: ParetoPoint) => a.expectedCost < b.expectedCost || (a.expectedCost === b.expectedCost && a.accuracy > b.accuracy);
  const moreAccurate = (a: ParetoPoint, b: ParetoPoint) => a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.expectedCost < b.expectedCost);
  const better = byAccuracy ? cheaper : moreAccurate;
  let chosen: ParetoPoint | undefined;
  for (const p of front) if (meets(p) && (chosen === undefined || better(p, chosen))) chosen = p;
  if (chosen !== undefined) return chosen;

  // Nothing qualifies: the nearest miss is the most accurate point for an accuracy bound, the cheapest for a cost one.
  const nearer = byAccuracy ? moreAccurate : cheaper;
  let closest = front[0];
  for (const p of front) if (nearer(p, closest)) closest = p;
  const finalAccuracy = closest.accuracy + closest.accuracyDrop;
  // speedUp = final cost / expected cost, so any point that costs something gives the final-exit-only cost back.
  const priced = front.find((p) => p.expectedCost > 0);
  const finalCost = priced === undefined ? Number.NaN : priced.expectedCost * priced.speedUp;
  const needs =
    key === 'maxDrop'
      ? `accuracy ≥ ${percent(finalAccuracy - value)} (final exit only: ${percent(finalAccuracy)})`
      : key === 'minAccuracy'
        ? `accuracy ≥ ${percent(value)}`
        : key === 'targetSpeedup'
          ? Number.isFinite(finalCost)
            ? `expected cost ≤ ${short(finalCost / value)} (final exit only: ${short(finalCost)})`
            : `a speed-up of at least ${value}x`
          : `expected cost ≤ ${short(value)}`;
  throw new BranchyArgumentError(
    'CALIBRATE_IMPOSSIBLE',
    `No operating point meets { ${key}: ${value} }, which needs ${needs}. The closest reachable point has accuracy ` +
      `${percent(closest.accuracy)}, expected cost ${short(closest.expectedCost)} and speed-up ` +
      `${closest.speedUp.toFixed(2)}x (thresholds [${closest.thresholds.map(short).join(', ')}]).`,
  );
}

/** Sorts one exit's samples by score and finds its groups, bad samples and reduced cuts. */
function orderExit(scores: Float64Array, correctHere: Uint8Array, rightLater: Uint8Array): { exit: ExitOrder; distinct: Float64Array } {
  const N = scores.length;
  // NaN and +∞ never pass a finite threshold: they are left out of the order and never leave here.
  let leavable = 0;
  for (let i = 0; i < N; i++) if (scores[i] < Infinity) leavable++;
  const order = new Uint32Array(leavable);
  for (let i = 0, p = 0; i < N; i++) if (scores[i] < Infinity) order[p++] = i;
  order.sort((a, b) => (scores[a] < scores[b] ? -1 : scores[a] > scores[b] ? 1 : a - b));

  const rank = new Int32Array(N);
  const starts: number[] = [];
  for (let p = 0; p < leavable; p++) {
    if (p === 0 || scores[order[p]] !== scores[order[p - 1]]) starts.push(p);
    rank[order[p]] = starts.length - 1;
  }
  const K = starts.length;
  const distinct = Float64Array.from(starts, (p) => scores[order[p]]);
  starts.push(leavable);
  for (let i = 0; i < N; i++) if (!(scores[i] < Infinity)) rank[i] = K;

  const isBad = (i: number) => correctHere[i] === 0 && rightLater[i] === 1;
  const badStart = new Int32Array(K + 2);
  for (let p = 0; p < leavable; p++) if (isBad(order[p])) badStart[rank[order[p]] + 1]++;
  for (let g = 0; g <= K; g++) badStart[g + 1] += badStart[g];
  const badList = new Uint32Array(badStart[K + 1]);
  for (let p = 0, b = 0; p < leavable; p++) if (isBad(order[p])) badList[b++] = order[p];
  const cuts: number[] = [];
  for (let g = 0; g < K; g++) if (badStart[g + 1] > badStart[g]) cuts.push(g);
  cuts.push(K);
  return {
    exit: { order, groupStart: Int32Array.from(starts), rank, cuts: Int32Array.from(cuts), badStart, badList },
    distinct,
  };
}

/** The threshold letting groups 0..cut−1 leave, robustly placed between scores (see {@link paretoFront}). */
function thresholdForCut(distinct: Float64Array, cut: number, upper: number): number {
  const K = distinct.length;
  if (K === 0) return 0;
  if (cut === 0) return Math.min(0, distinct[0]);
  if (cut < K) {
    const below = distinct[cut - 1];
    const above = distinct[cut];
    const mid = below + (above - below) / 2;
    // Adjacent doubles (or −∞ below) leave no room: the score above works too, as a sample leaves on score < T.
    return mid > below && mid <= above ? mid : above;
  }
  const top = distinct[K - 1];
  if (top < upper) return upper;
  return top + 1e-9 * Math.max(1, Math.abs(top));
}

function checkInputs(table: AllExitsResult, labels: Uint8Array, costToExit: readonly number[]): void {
  const count: unknown = table?.count;
  const classes: unknown = table?.classes;
  const probs: unknown = table?.probs;
  if (
    typeof count !== 'number' ||
    !Number.isInteger(count) ||
    count < 1 ||
    typeof classes !== 'number' ||
    !Number.isInteger(classes) ||
    classes < 1 ||
    !Array.isArray(probs) ||
    probs.length < 1
  ) {
    throw new BranchyArgumentError(
      'CALIBRATE_BAD_TABLE',
      `'table' has count ${describe(count)}, classes ${describe(classes)} and ` +
        `${Array.isArray(probs) ? `${probs.length} exit(s)` : `probs ${describe(probs)}`}; expected at least one ` +
        `sample, one class and one exit.`,
    );
  }
  probs.forEach((p: unknown, n: number) => {
    if (!(p instanceof Float32Array) || p.length !== count * classes) {
      throw new BranchyArgumentError(
        'CALIBRATE_BAD_TABLE',
        `'table.probs[${n}]' is ${p instanceof Float32Array ? `a Float32Array of length ${p.length}` : describe(p)}; ` +
          `expected a Float32Array of count × classes = ${count * classes} values.`,
      );
    }
  });
  if (!(labels instanceof Uint8Array) || labels.length !== count) {
    throw new BranchyArgumentError(
      'CALIBRATE_BAD_LABELS',
      `'labels' is ${labels instanceof Uint8Array ? `a Uint8Array of length ${labels.length}` : describe(labels)}; ` +
        `expected a Uint8Array with one label per sample (${count}).`,
    );
  }
  if (!Array.isArray(costToExit) || costToExit.length !== probs.length) {
    throw new BranchyArgumentError(
      'CALIBRATE_BAD_COSTS',
      `'costToExit' is ${Array.isArray(costToExit) ? `an array of ${costToExit.length} value(s)` : describe(costToExit)}; ` +
        `expected one cost per exit (${probs.length}).`,
    );
  }
  costToExit.forEach((c: unknown, n: number) => {
    const last = n === costToExit.length - 1;
    if (typeof c !== 'number' || !Number.isFinite(c) || c < 0 || (n > 0 && c < costToExit[n - 1]) || (last && c === 0)) {
      throw new BranchyArgumentError(
        'CALIBRATE_BAD_COSTS',
        `'costToExit[${n}]' is ${describe(c)}${n > 0 ? ` after ${costToExit[n - 1]}` : ''}; expected finite costs ≥ 0 ` +
          `that never decrease from one exit to the next (a later exit runs everything an earlier one does), the ` +
          `final one > 0 (speed-ups are measured against it).`,
      );
    }
  });
}

function readConstraint(constraint: OperatingConstraint): { key: 'maxDrop' | 'targetSpeedup' | 'maxCost' | 'minAccuracy'; value: number } {
  const keys = ['maxDrop', 'targetSpeedup', 'maxCost', 'minAccuracy'] as const;
  const given = constraint !== null && typeof constraint === 'object' ? Object.keys(constraint) : [];
  const key = keys.find((k) => given.length === 1 && given[0] === k);
  const value: unknown = key === undefined ? undefined : (constraint as Record<string, unknown>)[key];
  if (key === undefined || typeof value !== 'number' || !Number.isFinite(value) || (key === 'targetSpeedup' && value <= 0)) {
    throw new BranchyArgumentError(
      'CALIBRATE_BAD_CONSTRAINT',
      `'constraint' is ${describeConstraint(constraint)}; expected exactly one of { maxDrop }, { targetSpeedup }, ` +
        `{ maxCost } or { minAccuracy } with a finite number (targetSpeedup > 0).`,
    );
  }
  return { key, value };
}

function describeConstraint(constraint: unknown): string {
  if (constraint === null || typeof constraint !== 'object') return describe(constraint);
  // Not JSON: it would print NaN and Infinity as null.
  const entries = Object.entries(constraint).map(([k, v]) => `${k}: ${describe(v)}`);
  return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return `${String(value)} (${value === null ? 'null' : typeof value})`;
}

const percent = (x: number): string => `${(x * 100).toFixed(2)}%`;
const short = (x: number): string => String(Number(x.toPrecision(4)));
