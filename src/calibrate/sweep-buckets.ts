/**
 * The last early exit's side of the Pareto search (see `pareto-search.ts`): its cuts are swept in one pass instead
 * of being enumerated.
 *
 * @internal
 * @module
 */
import type { FrontSoFar } from './front-so-far.ts';

/** Buckets per block: a sweep tests a block as one box first, so that dominated stretches are passed over whole. */
const BLOCK = 16;
/** Blocks per super-block, for a coarser test before the blocks'. */
const SUPER = 8;

/**
 * Told by {@link SweepBuckets.sweep} of a point that beats the best known for its accuracy: `right` answers for
 * `cost` when cut number `cut` of the swept exit lets `leaving` samples out there. The sweep reads the front as it
 * goes, so whatever the callee records there already counts for the cuts after.
 */
export type SweepImprovement = (right: number, cost: number, cut: number, leaving: number) => void;

/**
 * The samples still reaching the last early exit, each in the bucket of the first of that exit's cuts that lets it
 * leave. Every cut of the exit then lets out exactly the buckets up to its own, so one prefix sum over buckets
 * gives the accuracy and cost of every cut: the sweep. The sums are kept per bucket, per block of buckets and per
 * super-block so that removing a sample is O(1) and a sweep can skip a dominated block without looking inside.
 *
 * A bucket's "gain" is Σ (right here − right at the final exit) over its samples: what letting them out here rather
 * than at the final exit does to the number of right answers.
 *
 * @example
 * ```ts
 * const buckets = new SweepBuckets(exit.cuts, exit.rank, correct[last], correct[final]);
 * buckets.remove(i); // sample i left at an earlier exit
 * buckets.sweep(rightFixed, costBefore, saving, front, improve);
 * ```
 */
export class SweepBuckets {
  /** Right answers at the final exit among the samples still reaching this exit: the sweep's base accuracy. */
  private rightAtFinal: number;
  /** Index of the first cut letting each sample leave; the number of cuts for one that never can (kept out of the sums). */
  private readonly bucket: Int32Array;
  /** Per sample, right here − right at the final exit. */
  private readonly gain: Int8Array;
  private readonly correctFinal: Uint8Array;
  private readonly cutCount: number;
  private readonly blockCount: number;
  private readonly superCount: number;
  // Per bucket: gain and samples; per block and super-block: the same and how many samples have a positive gain,
  // the most a block can add to the right answers of a cut before it.
  private readonly bucketGain: Int32Array;
  private readonly bucketSize: Int32Array;
  private readonly blockGain: Int32Array;
  private readonly blockSize: Int32Array;
  private readonly blockGainers: Int32Array;
  private readonly superGain: Int32Array;
  private readonly superSize: Int32Array;
  private readonly superGainers: Int32Array;
  private readonly sums: readonly Int32Array[];
  // One snapshot of all the sums, for a caller that removes many samples and then wants them all back at once.
  private readonly saved: readonly Int32Array[];
  private savedRightAtFinal: number;

  /**
   * Buckets holding every sample.
   *
   * @param cuts the swept exit's cuts, ascending (cut k lets groups 0..k−1 leave).
   * @param rank the group of each sample at the swept exit, `cuts[cuts.length − 1]` or more for one that never passes.
   * @param correctHere 1 where the swept exit's answer is right.
   * @param correctFinal 1 where the final exit's answer is right.
   */
  constructor(cuts: Int32Array, rank: Int32Array, correctHere: Uint8Array, correctFinal: Uint8Array) {
    const count = rank.length;
    const m = cuts.length;
    this.cutCount = m;
    this.blockCount = Math.ceil(m / BLOCK);
    this.superCount = Math.ceil(this.blockCount / SUPER);
    this.correctFinal = correctFinal;
    this.bucket = new Int32Array(count);
    this.gain = new Int8Array(count);
    for (let i = 0; i < count; i++) {
      const r = rank[i];
      let lo = 0;
      let hi = m;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cuts[mid] > r) hi = mid;
        else lo = mid + 1;
      }
      this.bucket[i] = lo;
      this.gain[i] = correctHere[i] - correctFinal[i];
    }
    this.bucketGain = new Int32Array(m);
    this.bucketSize = new Int32Array(m);
    this.blockGain = new Int32Array(this.blockCount);
    this.blockSize = new Int32Array(this.blockCount);
    this.blockGainers = new Int32Array(this.blockCount);
    this.superGain = new Int32Array(this.superCount);
    this.superSize = new Int32Array(this.superCount);
    this.superGainers = new Int32Array(this.superCount);
    this.sums = [this.bucketGain, this.bucketSize, this.blockGain, this.blockSize, this.blockGainers, this.superGain, this.superSize, this.superGainers];
    this.saved = this.sums.map((sum) => new Int32Array(sum.length));
    this.rightAtFinal = 0;
    this.savedRightAtFinal = 0;
    for (let i = 0; i < count; i++) this.add(i);
  }

  /** Takes out sample i, which has left at an earlier exit. */
  remove(i: number): void {
    this.rightAtFinal -= this.correctFinal[i];
    this.shift(i, -1);
  }

  /** Puts back sample i, taken out by {@link remove}. */
  add(i: number): void {
    this.rightAtFinal += this.correctFinal[i];
    this.shift(i, 1);
  }

  /** Remembers the current sums (one snapshot; a later call replaces it). */
  save(): void {
    for (let k = 0; k < this.sums.length; k++) this.saved[k].set(this.sums[k]);
    this.savedRightAtFinal = this.rightAtFinal;
  }

  /**
   * Returns to the sums of the last {@link save}: much cheaper than adding back one by one the many samples a
   * caller may have removed since, and order-free.
   */
  restore(): void {
    for (let k = 0; k < this.sums.length; k++) this.sums[k].set(this.saved[k]);
    this.rightAtFinal = this.savedRightAtFinal;
  }

  /**
   * Offers `improve`, in order, the cuts of this exit that may add to `front`, given what is already fixed:
   * `rightFixed` right answers among the samples that left before this exit, `costBefore` the total cost if none
   * left here (all those still here going on to the final exit), and `saving` the cost saved per sample leaving here
   * instead (≥ 0, since costs do not decrease). Every cut that no point of the front dominates when the sweep
   * reaches it is offered, and no cut that fails to beat its accuracy level's best; a cut in between (beaten only by
   * a more accurate point) may or may not be, as its whole block is passed over when the block is dominated.
   */
  sweep(rightFixed: number, costBefore: number, saving: number, front: FrontSoFar, improve: SweepImprovement): void {
    const atLeast = front.atLeast;
    const bestCost = front.bestCost;
    const { bucketGain, bucketSize, blockGain, blockSize, blockGainers, superGain, superSize, superGainers } = this;
    const m = this.cutCount;
    const nb = this.blockCount;
    const ns = this.superCount;
    const base = rightFixed + this.rightAtFinal;
    let cumGain = 0;
    let cumSize = 0;
    for (let u = 0; u < ns; u++) {
      // Every cut in a (super-)block has at most its gainers more right answers than the cut before it, and costs
      // at least what its last cut costs; if a point already found beats that corner, it beats the whole box.
      const superEnd = cumSize + superSize[u];
      if (atLeast[base + cumGain + superGainers[u]] <= costBefore - superEnd * saving) {
        cumGain += superGain[u];
        cumSize = superEnd;
        continue;
      }
      const qEnd = Math.min(nb, (u + 1) * SUPER);
      for (let q = u * SUPER; q < qEnd; q++) {
        const blockEnd = cumSize + blockSize[q];
        if (atLeast[base + cumGain + blockGainers[q]] <= costBefore - blockEnd * saving) {
          cumGain += blockGain[q];
          cumSize = blockEnd;
          continue;
        }
        const jEnd = Math.min(m, (q + 1) * BLOCK);
        for (let j = q * BLOCK; j < jEnd; j++) {
          cumGain += bucketGain[j];
          cumSize += bucketSize[j];
          const right = base + cumGain;
          const cost = costBefore - cumSize * saving;
          if (cost < bestCost[right]) improve(right, cost, j, cumSize);
        }
      }
    }
  }

  /** Moves sample i into (sign 1) or out of (sign −1) its bucket's, block's and super-block's sums. */
  private shift(i: number, sign: 1 | -1): void {
    const b = this.bucket[i];
    if (b >= this.cutCount) return;
    const d = this.gain[i];
    const q = (b / BLOCK) | 0;
    const u = (q / SUPER) | 0;
    this.bucketGain[b] += sign * d;
    this.bucketSize[b] += sign;
    this.blockGain[q] += sign * d;
    this.blockSize[q] += sign;
    this.superGain[u] += sign * d;
    this.superSize[u] += sign;
    if (d > 0) {
      this.blockGainers[q] += sign;
      this.superGainers[u] += sign;
    }
  }
}
