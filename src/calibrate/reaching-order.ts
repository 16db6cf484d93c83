/**
 * Which samples still reach an enumerated exit of the Pareto search (see `pareto-search.ts`).
 *
 * @internal
 * @module
 */

/**
 * The samples still reaching one exit, in that exit's score order, as a doubly linked list over positions in the
 * order, so that a level of the search walks only them. Removals are undone in the reverse order they were made,
 * which keeps the links of a removed position valid until it is put back (dancing links): no copy is ever made.
 *
 * @example
 * ```ts
 * const reaching = new ReachingOrder(exit.order, N);
 * for (let p = reaching.next[reaching.end]; p !== reaching.end; p = reaching.next[p]) visit(exit.order[p]);
 * ```
 */
export class ReachingOrder {
  /** The sentinel position that starts and ends the list: the sample count. */
  readonly end: number;
  /** `next[p]`: the next position still reaching after p; `next[end]` is the first, `end` after the last. */
  readonly next: Int32Array;
  private readonly prev: Int32Array;
  /** Position of each sample in the order; −1 for one that can never leave at this exit. */
  private readonly positionOf: Int32Array;

  /** Every sample of `order` (positions into it) still reaching; `count` is the number of samples in all. */
  constructor(order: Uint32Array, count: number) {
    const len = order.length;
    this.end = count;
    this.next = new Int32Array(count + 1);
    this.prev = new Int32Array(count + 1);
    this.positionOf = new Int32Array(count).fill(-1);
    for (let p = 0; p < len; p++) {
      this.next[p] = p + 1 < len ? p + 1 : count;
      this.prev[p] = p > 0 ? p - 1 : count;
      this.positionOf[order[p]] = p;
    }
    this.next[count] = len > 0 ? 0 : count;
    this.prev[count] = len > 0 ? len - 1 : count;
  }

  /** Drops sample i from the list (nothing for a sample not in the order). */
  unlink(i: number): void {
    const p = this.positionOf[i];
    if (p < 0) return;
    const next = this.next;
    const prev = this.prev;
    next[prev[p]] = next[p];
    prev[next[p]] = prev[p];
  }

  /** Puts sample i back where it was; valid only for the sample unlinked last among those still out. */
  relink(i: number): void {
    const p = this.positionOf[i];
    if (p < 0) return;
    this.next[this.prev[p]] = p;
    this.prev[this.next[p]] = p;
  }
}
