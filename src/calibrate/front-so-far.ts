/**
 * The Pareto search's best points so far, per accuracy level (see `pareto-search.ts`).
 *
 * @internal
 * @module
 */

/**
 * Per accuracy level A (number of right answers, 0..N): the least total cost found so far, the cut vector reaching
 * it and its exit counts, plus the suffix minimum that makes dominance a single lookup. Accuracy is a whole number
 * of samples, so both are kept exactly, with no tolerance.
 */
export class FrontSoFar {
  /** `bestCost[A]`: least total cost found with exactly A right; +∞ while none. */
  readonly bestCost: Float64Array;
  /**
   * `atLeast[A]`: least total cost found with at least A right (one spare +∞ at N + 1). A point (A, c) is dominated by
   * something already found iff `atLeast[A] ≤ c`; it is non-increasing in A, which the bounds rely on.
   */
  readonly atLeast: Float64Array;
  /** `cuts[A·E + n]`: the cut at early exit n of the point behind `bestCost[A]`. */
  readonly cuts: Int32Array;
  /** `exitCounts[A·(E+1) + n]`: samples leaving at exit n for that point. */
  readonly exitCounts: Int32Array;
  private readonly earlyExits: number;

  /** Nothing found yet, for `count` samples and `earlyExits` early exits plus the final one. */
  constructor(count: number, earlyExits: number) {
    this.earlyExits = earlyExits;
    this.bestCost = new Float64Array(count + 1).fill(Infinity);
    this.atLeast = new Float64Array(count + 2).fill(Infinity);
    this.cuts = new Int32Array((count + 1) * Math.max(earlyExits, 1));
    this.exitCounts = new Int32Array((count + 1) * (earlyExits + 1));
  }

  /**
   * Makes (right, cost) the best point at its accuracy, reached by `cuts` (one per early exit) with `exitCounts`
   * (one per exit). The caller has checked that it beats `bestCost[right]`.
   */
  record(right: number, cost: number, cuts: Int32Array, exitCounts: Int32Array): void {
    const E = this.earlyExits;
    const X = E + 1;
    this.bestCost[right] = cost;
    const atLeast = this.atLeast;
    for (let a = right; a >= 0 && atLeast[a] > cost; a--) atLeast[a] = cost;
    for (let n = 0; n < E; n++) this.cuts[right * E + n] = cuts[n];
    for (let n = 0; n < X; n++) this.exitCounts[right * X + n] = exitCounts[n];
  }
}
