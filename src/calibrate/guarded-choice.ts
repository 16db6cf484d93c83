import { BranchyArgumentError } from '../common/errors.ts';
import type { ExitCriterion } from '../exit/index.ts';
import { argmaxRow, type AllExitsResult } from '../infer/index.ts';
import type { ParetoPoint } from './types.ts';

/**
 * An accuracy bound that is meant to hold on new data, not only on the validation split it is chosen on.
 *
 * - `{ maxLoss }`: the share of samples an early exit gets wrong where the final exit is right at most this (the
 *   rule `train` uses). Unlike the net drop, gains elsewhere cannot hide these losses.
 * - `confidence` (with `maxLoss` or `maxDrop`): the bound must hold for the one-sided upper confidence bound at
 *   this level, not for the validation figure: Clopper–Pearson on the loss share; for the drop, the losses' upper
 *   bound minus the gains' lower bound, each at (1 + confidence) / 2.
 */
export type GuardedConstraint = { maxLoss: number; confidence?: number } | { maxDrop: number; confidence: number };

/** Whether a constraint needs the all-exits table (a guarded one) rather than the front alone. */
export function isGuarded(constraint: object): constraint is GuardedConstraint {
  return 'maxLoss' in constraint || 'confidence' in constraint;
}

/** Losses and gains of a threshold vector against the final exit on a table, in samples. */
export interface LossCount {
  /** Samples the early-exit answer gets wrong where the final exit is right. */
  losses: number;
  /** Samples it gets right where the final exit is wrong. */
  gains: number;
  /** Samples answered by an early exit. */
  early: number;
  count: number;
}

/** Every exit's score and correctness per sample, computed once for the many threshold vectors compared. */
export interface ScoredTable {
  count: number;
  /** Per exit n (index n-1), the criterion's score of every sample. */
  scores: Float64Array[];
  /** Per exit, 1 where its answer is right. */
  right: Uint8Array[];
}

/** Scores a table for `lossCount`. */
export function scoreTable(table: AllExitsResult, labels: Uint8Array, criterion: ExitCriterion): ScoredTable {
  const { count, classes: C, probs } = table;
  return {
    count,
    scores: probs.map((p) => Float64Array.from({ length: count }, (_, i) => criterion.score(p, C, i * C))),
    right: probs.map((p) => Uint8Array.from({ length: count }, (_, i) => (argmaxRow(p, i * C, C) === labels[i] ? 1 : 0))),
  };
}

/** Counts the losses and gains of `thresholds` on a scored table: each sample answers at the first exit it passes. */
export function lossCount(table: ScoredTable, thresholds: readonly number[]): LossCount {
  const { count, scores, right } = table;
  const last = scores.length - 1;
  let losses = 0;
  let gains = 0;
  let early = 0;
  for (let i = 0; i < count; i++) {
    let exit = last;
    for (let n = 0; n < last; n++) {
      if (scores[n][i] < thresholds[n]) {
        exit = n;
        break;
      }
    }
    if (exit === last) continue;
    early++;
    if (right[last][i] > right[exit][i]) losses++;
    else if (right[exit][i] > right[last][i]) gains++;
  }
  return { losses, gains, early, count };
}

/** P(Binomial(n, p) ≤ k), summing the terms by their ratio from the largest one down, in log space. */
function binomialCdf(k: number, n: number, p: number): number {
  if (p <= 0) return 1;
  if (p >= 1) return k >= n ? 1 : 0;
  const odds = p / (1 - p);
  // log of term 0 = (1-p)^n; each next term is the previous × (n-i)/(i+1) × odds.
  let logTerm = n * Math.log1p(-p);
  const logs = new Float64Array(k + 1);
  let max = -Infinity;
  for (let i = 0; i <= k; i++) {
    logs[i] = logTerm;
    max = Math.max(max, logTerm);
    logTerm += Math.log((n - i) / (i + 1)) + Math.log(odds);
  }
  let sum = 0;
  for (let i = 0; i <= k; i++) sum += Math.exp(logs[i] - max);
  return Math.min(1, Math.exp(max) * sum);
}

/** The one-sided Clopper–Pearson upper bound on a rate from k of n, at `confidence`. */
export function rateUpperBound(k: number, n: number, confidence: number): number {
  if (k >= n) return 1;
  const alpha = 1 - confidence;
  let lo = k / n;
  let hi = 1;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(k, n, mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The one-sided Clopper–Pearson lower bound on a rate from k of n, at `confidence`. */
export function rateLowerBound(k: number, n: number, confidence: number): number {
  return k === 0 ? 0 : 1 - rateUpperBound(n - k, n, confidence);
}

/**
 * What a guarded constraint bounds for one point: the figure compared with the budget. A point where no sample
 * leaves early is the final exit alone, whose drop is 0 by construction, not by measurement.
 */
export function guardedFigure(c: LossCount, constraint: GuardedConstraint): number {
  const { losses, gains, count } = c;
  if (c.early === 0) return 0;
  const estimate = 'maxLoss' in constraint ? losses / count : (losses - gains) / count;
  // An upper bound is never below the estimate, so a point already over its budget needs no bound.
  const budget = 'maxLoss' in constraint ? constraint.maxLoss : constraint.maxDrop;
  if (constraint.confidence !== undefined && estimate > budget) return estimate;
  if ('maxLoss' in constraint) return constraint.confidence === undefined ? losses / count : rateUpperBound(losses, count, constraint.confidence);
  const half = (1 + constraint.confidence) / 2;
  return rateUpperBound(losses, count, half) - rateLowerBound(gains, count, half);
}

function checkConstraint(constraint: GuardedConstraint): { budget: number } {
  const budget = 'maxLoss' in constraint ? constraint.maxLoss : constraint.maxDrop;
  const ok = typeof budget === 'number' && Number.isFinite(budget) && budget >= 0 && budget < 1;
  const conf = constraint.confidence;
  if (!ok || (conf !== undefined && !(typeof conf === 'number' && conf > 0 && conf < 1)))
    throw new BranchyArgumentError(
      'CALIBRATE_BAD_CONSTRAINT',
      `'constraint' is ${JSON.stringify(constraint)}; expected { maxLoss } or { maxDrop, confidence } with a share in [0, 1) and a confidence in (0, 1).`,
    );
  return { budget };
}

/** The point that sends every sample to the final exit, priced from any point of the front. */
function finalOnlyPoint(front: readonly ParetoPoint[], table: AllExitsResult, labels: Uint8Array): ParetoPoint {
  const depth = table.probs.length;
  const priced = front.find((p) => p.expectedCost > 0 && Number.isFinite(p.speedUp))!;
  const C = table.classes;
  let right = 0;
  for (let i = 0; i < table.count; i++) if (argmaxRow(table.probs[depth - 1], i * C, C) === labels[i]) right++;
  const exitShare = new Array<number>(depth).fill(0);
  exitShare[depth - 1] = 1;
  return {
    thresholds: new Array<number>(depth - 1).fill(0),
    accuracy: right / table.count,
    expectedCost: priced.expectedCost * priced.speedUp,
    exitShare,
    speedUp: 1,
    accuracyDrop: 0,
  };
}

/**
 * The cheapest point of a front whose guarded figure (see `GuardedConstraint`) is within the budget, or else the
 * final exit alone (no early answers, so no losses; it is off the front when early exits gain more than they
 * lose). The front is the accuracy/cost front of the validation split, so a point with fewer losses but the same
 * net accuracy may lie off it; among the front's points the choice is exact.
 *
 * @throws BranchyArgumentError `CALIBRATE_BAD_CONSTRAINT` for a budget or confidence out of range;
 *   `CALIBRATE_IMPOSSIBLE` when no point qualifies (only for a front without its final-exit-only end).
 */
export function chooseGuardedPoint(
  front: readonly ParetoPoint[],
  table: AllExitsResult,
  labels: Uint8Array,
  criterion: ExitCriterion,
  constraint: GuardedConstraint,
): { point: ParetoPoint; figure: number; losses: LossCount } {
  const { budget } = checkConstraint(constraint);
  const scored = scoreTable(table, labels, criterion);
  let best: { point: ParetoPoint; figure: number; losses: LossCount } | undefined;
  let smallest = Infinity;
  // Cheapest first: the first point within the budget is the answer.
  const candidates = [...front, finalOnlyPoint(front, table, labels)].sort((a, b) => a.expectedCost - b.expectedCost);
  for (const point of candidates) {
    const losses = lossCount(scored, point.thresholds);
    const figure = guardedFigure(losses, constraint);
    smallest = Math.min(smallest, figure);
    if (figure <= budget + 1e-12) {
      best = { point, figure, losses };
      break;
    }
  }
  if (!best)
    throw new BranchyArgumentError(
      'CALIBRATE_IMPOSSIBLE',
      `no point of the front meets ${JSON.stringify(constraint)}: the smallest bound reached is ${(100 * smallest).toFixed(2)} points on ${table.count} validation samples; raise the budget or lower the confidence.`,
    );
  return best;
}
