/**
 * The Pareto search's pruning test (see `pareto.ts`, rule 3, and `pareto-search.ts`).
 *
 * @internal
 * @module
 */

/**
 * Decides whether a subtree of the search can still add to the front, through a relaxation: every sample still in
 * play may leave at any exit from the first open one on, independently of the others. The relaxation's own front
 * is "everyone at the first open exit, then upgrade samples to their first right exit, cheapest upgrade first",
 * so it only needs, per level j and exit f, how many samples in play are first right at f counting from j.
 */
export class RelaxedBound {
  private readonly count: number;
  private readonly exits: number;
  private readonly levels: number;
  private readonly costs: readonly number[];
  /** `firstRight[j·N + i]`: the first exit ≥ j where sample i is right; the number of exits when none. */
  private readonly firstRight: Uint16Array;
  /** `histogram[j·(X+1) + f]`: samples in play at level j whose first right exit from j on is f. */
  private readonly histogram: Int32Array;
  private readonly saved: Int32Array;
  // The bisection's pending ranges; its depth is at most log2(N) + 1.
  private readonly rangeFrom = new Int32Array(64);
  private readonly rangeTo = new Int32Array(64);

  /**
   * A bound for levels 0..levels−1 with every sample in play.
   *
   * @param correct per exit, final last, 1 where that exit's answer is right.
   * @param costs per exit, the cost of reaching and evaluating it; non-decreasing.
   * @param levels the levels the bound will be asked about: the early exits that are enumerated or swept.
   */
  constructor(correct: readonly Uint8Array[], costs: readonly number[], levels: number) {
    const N = correct[0].length;
    const X = correct.length;
    this.count = N;
    this.exits = X;
    this.levels = levels;
    this.costs = costs;
    this.firstRight = new Uint16Array(levels * N);
    for (let i = 0; i < N; i++) {
      let f = X;
      for (let j = X - 1; j >= 0; j--) {
        if (correct[j][i] === 1) f = j;
        if (j < levels) this.firstRight[j * N + i] = f;
      }
    }
    this.histogram = new Int32Array(levels * (X + 1));
    this.saved = new Int32Array(levels * (X + 1));
    for (let i = 0; i < N; i++) this.add(i, 0);
  }

  /** Takes sample i out of play from level `from` on: it left at exit `from`. */
  remove(i: number, from: number): void {
    const N = this.count;
    const w = this.exits + 1;
    for (let j = from; j < this.levels; j++) this.histogram[j * w + this.firstRight[j * N + i]]--;
  }

  /** Puts sample i back in play from level `from` on, undoing {@link remove}. */
  add(i: number, from: number): void {
    const N = this.count;
    const w = this.exits + 1;
    for (let j = from; j < this.levels; j++) this.histogram[j * w + this.firstRight[j * N + i]]++;
  }

  /** Remembers the counts of levels `from` on (one snapshot; a later call replaces it). */
  save(from: number): void {
    const end = this.levels * (this.exits + 1);
    for (let k = from * (this.exits + 1); k < end; k++) this.saved[k] = this.histogram[k];
  }

  /** Returns levels `from` on to their counts at the last {@link save}, however many samples left since. */
  restore(from: number): void {
    const end = this.levels * (this.exits + 1);
    for (let k = from * (this.exits + 1); k < end; k++) this.histogram[k] = this.saved[k];
  }

  /**
   * Whether everything reachable from the current state is dominated by points already found (`atLeast`, see
   * `FrontSoFar`), when exit j is the first still open and the samples that already left give `rightFixed` right
   * answers for `costFixed`, with `reaching` samples still in play.
   */
  dominated(j: number, rightFixed: number, costFixed: number, reaching: number, atLeast: Float64Array): boolean {
    const H = this.histogram;
    const costs = this.costs;
    const F = this.exits - 1;
    const h = j * (this.exits + 1);
    const Cj = costs[j];
    const A0 = rightFixed + H[h + j];
    const c0 = costFixed + reaching * Cj;
    let B = 0;
    let top = c0;
    for (let f = j + 1; f <= F; f++) {
      B += H[h + f];
      top += H[h + f] * (costs[f] - Cj);
    }
    // The most accurate relaxed point is the most likely to survive: test it first.
    if (A0 + B > this.count || atLeast[A0 + B] > top) return false;
    if (atLeast[A0 + B] <= c0) return true;
    // Relaxed points are (A0 + t, cost of the t cheapest upgrades), t = 0..B. A range [a, b] of t is covered when a
    // found point has ≥ A0 + b right for ≤ the cost at t = a; bisect ranges that are not.
    const from = this.rangeFrom;
    const to = this.rangeTo;
    let sp = 1;
    from[0] = 0;
    to[0] = B;
    while (sp > 0) {
      sp--;
      const a = from[sp];
      const b = to[sp];
      let c = c0;
      let t = a;
      for (let f = j + 1; f <= F && t > 0; f++) {
        const s = t < H[h + f] ? t : H[h + f];
        c += s * (costs[f] - Cj);
        t -= s;
      }
      if (atLeast[A0 + b] <= c) continue;
      if (a === b) return false;
      const mid = (a + b) >> 1;
      from[sp] = mid + 1;
      to[sp] = b;
      sp++;
      from[sp] = a;
      to[sp] = mid;
      sp++;
    }
    return true;
  }
}
