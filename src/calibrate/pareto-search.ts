/**
 * The exact branch-and-bound search behind `paretoFront` (see `pareto.ts` for the problem, the pruning rules and
 * why they are exact). This file only knows exits as sorted score orders with correctness flags; it knows nothing
 * of criteria, probabilities or thresholds.
 *
 * @internal
 * @module
 */
import { CutEnumerator } from './cut-enumerator.ts';
import { FrontSoFar } from './front-so-far.ts';

/** One early exit seen by the search: its samples in score order, grouped by equal score. */
export interface ExitOrder {
  /** Samples that can leave at this exit (finite or −∞ score), sorted by score ascending. */
  order: Uint32Array;
  /** `groupStart[g]` is the position in `order` of group g (equal scores), for g = 0..K; `groupStart[K]` = `order.length`. */
  groupStart: Int32Array;
  /** Group of each sample; K for a sample whose score can never pass (NaN, +∞). */
  rank: Int32Array;
  /**
   * The cuts worth trying, ascending: cut k lets groups 0..k−1 leave. Always ends with K (all leave); holds k < K
   * only when group k has a bad sample (wrong here, right at a later exit).
   */
  cuts: Int32Array;
  /** Bad samples of each group, CSR: those of group g are `badList[badStart[g] .. badStart[g+1])`. */
  badStart: Int32Array;
  badList: Uint32Array;
}

/** What the search needs: N samples, E early exits plus the final one. */
export interface SearchInput {
  count: number;
  /** Per exit (E+1 of them), 1 where that exit's answer is right. */
  correct: Uint8Array[];
  /** Per exit, the cost of reaching and evaluating it; non-decreasing. */
  costs: readonly number[];
  /** Per early exit (E of them). */
  exits: ExitOrder[];
}

/** Counters describing how much work the search did; for benchmarks and tuning. */
export interface SearchStats {
  /** Cut vectors of the earlier exits whose last-exit sweep ran. */
  sweeps: number;
  /** Subtrees cut off by the relaxed bound. */
  pruned: number;
  /** Cuts skipped because the next cut dominates them given the samples still reaching that exit. */
  skipped: number;
  /** Times a level's remaining cuts were all dominated at once. */
  breaks: number;
  /** Times a point improved the best cost known for its accuracy. */
  improvements: number;
}

/**
 * Per accuracy level A (number of right answers, 0..N): the least total cost found (Σ of per-sample costs,
 * +∞ when no cut vector reaches exactly A and is needed), the cut vector reaching it and its exit counts.
 * Only levels that can be on the front are guaranteed to be filled; the rest may hold anything found on the way.
 */
export interface SearchResult {
  bestCost: Float64Array;
  /** `cuts[A·E + n]`: cut chosen at early exit n. */
  cuts: Int32Array;
  /** `exitCounts[A·(E+1) + n]`: samples leaving at exit n. */
  exitCounts: Int32Array;
  stats: SearchStats;
}

/**
 * Seeding passes: every 128th, then every 16th cut of the earlier exits, then all of them. The coarse passes cost
 * little and find most of the front, so the exact pass prunes from its first step (about 2× faster overall).
 */
const SEEDING_STRIDES: readonly number[] = [128, 16, 1];

/**
 * Finds, for every accuracy level that can be on the accuracy/cost Pareto front, the cheapest cut vector reaching
 * it. Exact; see `paretoFront` for the rules. `strides` are the passes: each pass tries every stride-th cut of the
 * earlier exits (the last pass must be 1), so that a cheap first pass finds a near-front that prunes the exact one.
 *
 * The work is split four ways: {@link CutEnumerator} walks the cut vectors of all early exits but the last,
 * `SweepBuckets` sweeps the last one's cuts in one pass under each, `RelaxedBound` decides which subtrees to
 * drop, and {@link FrontSoFar} holds the best point per accuracy level, which they all test against.
 */
export function searchPareto(input: SearchInput, strides: readonly number[] = SEEDING_STRIDES): SearchResult {
  const { count: N, correct, costs } = input;
  const E = correct.length - 1;
  const stats: SearchStats = { sweeps: 0, pruned: 0, skipped: 0, breaks: 0, improvements: 0 };
  const front = new FrontSoFar(N, E);
  if (E === 0) {
    let right = 0;
    for (let i = 0; i < N; i++) right += correct[0][i];
    front.record(right, N * costs[0], new Int32Array(0), Int32Array.of(N));
  } else {
    new CutEnumerator(input, front, stats).run(strides);
  }
  return { bestCost: front.bestCost, cuts: front.cuts, exitCounts: front.exitCounts, stats };
}
