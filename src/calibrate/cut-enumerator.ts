/**
 * The branch-and-bound walk of the Pareto search over cut vectors (see `pareto-search.ts`).
 *
 * @internal
 * @module
 */
import type { FrontSoFar } from './front-so-far.ts';
import type { ExitOrder, SearchInput, SearchStats } from './pareto-search.ts';
import { ReachingOrder } from './reaching-order.ts';
import { RelaxedBound } from './relaxed-bound.ts';
import { SweepBuckets, type SweepImprovement } from './sweep-buckets.ts';

/** What to do with one cut of a level: try it, skip it, or end the level there. */
type Verdict = 'try' | 'skip' | 'stop';

/**
 * Walks the cut vectors of the early exits depth first, one level per exit, and records on a {@link FrontSoFar}
 * every point that may add to the front. Levels 0..L−1 (L the last early exit) enumerate their exit's cuts, ascending, and
 * take the samples each cut lets out out of play for the levels below; the last early exit is not enumerated but
 * swept by {@link SweepBuckets}. Subtrees and level tails that the {@link RelaxedBound} shows dominated are not
 * entered.
 *
 * The state of the walk is the part of the cut vector fixed so far: which samples have left, and the right answers
 * and cost they account for. Every level restores it on the way out, so a pass leaves the enumerator as it found it.
 */
export class CutEnumerator {
  private readonly count: number;
  private readonly correct: readonly Uint8Array[];
  private readonly costs: readonly number[];
  private readonly exits: readonly ExitOrder[];
  /** Index of the last early exit, the swept one. */
  private readonly last: number;
  private readonly front: FrontSoFar;
  private readonly stats: SearchStats;
  private readonly buckets: SweepBuckets;
  private readonly bound: RelaxedBound;
  /** Per enumerated exit, the samples still reaching it. */
  private readonly reaching: ReachingOrder[];
  /** The level each sample left at, −1 while in play; only the judging of cuts reads it. */
  private readonly removedAt: Int16Array;
  /** Samples taken out by the depth-first levels, in order, so each level puts its own back in reverse. */
  private readonly removedStack: Int32Array;
  private stackTop = 0;
  /** Per exit, the samples leaving there under the cut vector being built. */
  private readonly leftAt: Int32Array;
  /** The cut vector being built, one cut per early exit. */
  private readonly cut: Int32Array;
  /** Right answers and total cost of the samples that have left, and how many have not. */
  private rightFixed = 0;
  private costFixed = 0;
  private inPlay: number;
  private stride = 1;

  /**
   * An enumerator with every sample in play, recording on `front` and counting its work in `stats`.
   *
   * @param input the search's input, with at least one early exit.
   */
  constructor(input: SearchInput, front: FrontSoFar, stats: SearchStats) {
    const { count: N, correct, costs, exits } = input;
    const E = correct.length - 1;
    const L = E - 1;
    this.count = N;
    this.correct = correct;
    this.costs = costs;
    this.exits = exits;
    this.last = L;
    this.front = front;
    this.stats = stats;
    this.buckets = new SweepBuckets(exits[L].cuts, exits[L].rank, correct[L], correct[E]);
    this.bound = new RelaxedBound(correct, costs, E);
    this.reaching = exits.slice(0, L).map((exit) => new ReachingOrder(exit.order, N));
    this.removedAt = new Int16Array(N).fill(-1);
    this.removedStack = new Int32Array(N);
    this.leftAt = new Int32Array(E + 1);
    this.cut = new Int32Array(E);
    this.inPlay = N;
  }

  /**
   * The search, in passes: each tries every stride-th cut of the enumerated exits (and always their last), so that
   * coarse passes fill the front cheaply and the exact one (the last, stride 1) prunes from its first step. With no
   * enumerated exit there is nothing to stride over, and one sweep is the whole search.
   */
  run(strides: readonly number[]): void {
    if (this.last === 0) {
      this.sweep();
      return;
    }
    for (const stride of strides) {
      this.stride = stride;
      this.level(0);
    }
  }

  /** Called by the sweep for each improvement; an arrow so that it is made once, not per sweep. */
  private readonly improve: SweepImprovement = (right, cost, j, leaving) => {
    const L = this.last;
    this.stats.improvements++;
    this.cut[L] = this.exits[L].cuts[j];
    this.leftAt[L] = leaving;
    this.leftAt[L + 1] = this.inPlay - leaving;
    this.front.record(right, cost, this.cut, this.leftAt);
  };

  private sweep(): void {
    this.stats.sweeps++;
    const L = this.last;
    const finalCost = this.costs[L + 1];
    const costBefore = this.costFixed + this.inPlay * finalCost;
    this.buckets.sweep(this.rightFixed, costBefore, finalCost - this.costs[L], this.front, this.improve);
  }

  private dominated(j: number): boolean {
    return this.bound.dominated(j, this.rightFixed, this.costFixed, this.inPlay, this.front.atLeast);
  }

  /** Enumerates the cuts of exit n < L − 1, taking samples out one by one and putting them back on the way out. */
  private level(n: number): void {
    if (n === this.last - 1) {
      this.lastLevel(n);
      return;
    }
    const N = this.count;
    const { cuts, groupStart, order } = this.exits[n];
    const next = this.reaching[n].next;
    const stackBase = this.stackTop;
    let p = next[N];
    let lastTried = -this.stride;
    for (let q = 0; q < cuts.length; q++) {
      const end = groupStart[cuts[q]];
      while (p !== N && p < end) {
        this.remove(order[p], n);
        p = next[p];
      }
      const verdict = this.judgeCut(n, q, lastTried);
      if (verdict === 'skip') continue;
      if (verdict === 'stop') break;
      lastTried = q;
      this.cut[n] = cuts[q];
      if (this.dominated(n + 1)) {
        this.stats.pruned++;
        continue;
      }
      this.level(n + 1);
    }
    while (this.stackTop > stackBase) this.restore(this.removedStack[--this.stackTop], n);
  }

  /**
   * Enumerates the cuts of exit L − 1, sweeping exit L under each. Unlike {@link level} it neither marks, unlinks
   * nor stacks the samples it takes out, and puts them back by restoring snapshots of the sums: nothing deeper reads
   * the marks or the links, and this level runs once per cut vector of the levels above, over all their samples.
   */
  private lastLevel(n: number): void {
    const N = this.count;
    const { cuts, groupStart, order } = this.exits[n];
    const next = this.reaching[n].next;
    const correctHere = this.correct[n];
    const costHere = this.costs[n];
    const buckets = this.buckets;
    const bound = this.bound;
    buckets.save();
    bound.save(n);
    const right0 = this.rightFixed;
    const cost0 = this.costFixed;
    const inPlay0 = this.inPlay;
    let right = right0;
    let left = 0;
    let p = next[N];
    let lastTried = -this.stride;
    for (let q = 0; q < cuts.length; q++) {
      const end = groupStart[cuts[q]];
      while (p !== N && p < end) {
        const i = order[p];
        p = next[p];
        left++;
        right += correctHere[i];
        buckets.remove(i);
        bound.remove(i, n);
      }
      this.rightFixed = right;
      this.inPlay = inPlay0 - left;
      // Set from the count rather than summed per sample: one rounding, and no floating-point work in the loop above.
      this.costFixed = cost0 + left * costHere;
      const verdict = this.judgeCut(n, q, lastTried);
      if (verdict === 'skip') continue;
      if (verdict === 'stop') break;
      lastTried = q;
      this.cut[n] = cuts[q];
      this.leftAt[n] = left;
      if (this.dominated(n + 1)) {
        this.stats.pruned++;
        continue;
      }
      this.sweep();
    }
    buckets.restore();
    bound.restore(n);
    this.rightFixed = right0;
    this.costFixed = cost0;
    this.inPlay = inPlay0;
    this.leftAt[n] = 0;
  }

  /** Takes sample i out of play: it leaves at exit n. */
  private remove(i: number, n: number): void {
    this.removedAt[i] = n;
    this.removedStack[this.stackTop++] = i;
    this.leftAt[n]++;
    this.rightFixed += this.correct[n][i];
    this.costFixed += this.costs[n];
    this.inPlay--;
    this.buckets.remove(i);
    this.bound.remove(i, n);
    const L = this.last;
    for (let j = n + 1; j < L; j++) this.reaching[j].unlink(i);
  }

  /** Undoes {@link remove}; samples must come back in the reverse order they left, for the links. */
  private restore(i: number, n: number): void {
    this.removedAt[i] = -1;
    this.leftAt[n]--;
    this.rightFixed -= this.correct[n][i];
    this.costFixed -= this.costs[n];
    this.inPlay++;
    this.buckets.add(i);
    this.bound.add(i, n);
    for (let j = this.last - 1; j > n; j--) this.reaching[j].relink(i);
  }

  /**
   * Whether to try cut q of exit n: `try` it; `skip` it (off this pass's stride, or dominated by the next cut since
   * no bad sample is left in its group); or `stop`, when nothing from here on can add to the front. The last cut is
   * always tried, so that every sample still here can leave.
   */
  private judgeCut(n: number, q: number, lastTried: number): Verdict {
    const cuts = this.exits[n].cuts;
    if (q === cuts.length - 1) return 'try';
    if (q - lastTried < this.stride) return 'skip';
    if (!this.badStillHere(n, cuts[q])) {
      this.stats.skipped++;
      return 'skip';
    }
    if (q > 0 && this.dominated(n)) {
      this.stats.breaks++;
      return 'stop';
    }
    return 'try';
  }

  /**
   * Whether group g of exit n holds a bad sample still reaching it. If not, the cut just below g only differs from
   * the next one tried by moving samples out here that are never worse off for it, so that cut dominates.
   */
  private badStillHere(n: number, g: number): boolean {
    const { badStart, badList } = this.exits[n];
    for (let b = badStart[g]; b < badStart[g + 1]; b++) if (this.removedAt[badList[b]] < 0) return true;
    return false;
  }
}
