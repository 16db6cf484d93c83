/**
 * The exact branch-and-bound search behind `paretoFront` (see `pareto.ts` for the problem, the pruning rules and
 * why they are exact). This file only knows exits as sorted score orders with correctness flags; it knows nothing
 * of criteria, probabilities or thresholds.
 *
 * @internal
 * @module
 */

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

/** Buckets of the last early exit's sweep grouped this many at a time, so dominated stretches are skipped whole. */
const BLOCK = 16;
/** Blocks grouped this many at a time for a coarser first test. */
const SUPER = 8;
/**
 * Seeding passes: every 128th, then every 16th cut of the earlier exits, then all of them. The coarse passes cost
 * little and find most of the front, so the exact pass prunes from its first step (about 2× faster overall).
 */
const SEEDING_STRIDES: readonly number[] = [128, 16, 1];

/**
 * Finds, for every accuracy level that can be on the accuracy/cost Pareto front, the cheapest cut vector reaching
 * it. Exact; see `paretoFront` for the rules. `strides` are the passes: each pass tries every stride-th cut of the
 * earlier exits (the last pass must be 1), so that a cheap first pass finds a near-front that prunes the exact one.
 */
export function searchPareto(input: SearchInput, strides: readonly number[] = SEEDING_STRIDES): SearchResult {
  const { count: N, correct, costs, exits } = input;
  const X = correct.length;
  const E = X - 1;
  const F = E;
  const stats: SearchStats = { sweeps: 0, pruned: 0, skipped: 0, breaks: 0, improvements: 0 };
  const bestCost = new Float64Array(N + 1).fill(Infinity);
  const cutsAt = new Int32Array((N + 1) * Math.max(E, 1));
  const exitCounts = new Int32Array((N + 1) * X);
  const cF = correct[F];
  if (E === 0) {
    let right = 0;
    for (let i = 0; i < N; i++) right += cF[i];
    bestCost[right] = N * costs[0];
    exitCounts[right] = N;
    return { bestCost, cuts: cutsAt, exitCounts, stats };
  }

  // firstRight[j·N + i]: the first exit ≥ j where sample i is right, X when none: what the relaxed bound needs.
  const firstRight = new Uint16Array((X + 1) * N);
  for (let i = 0; i < N; i++) {
    let f = X;
    firstRight[X * N + i] = X;
    for (let j = X - 1; j >= 0; j--) {
      if (correct[j][i] === 1) f = j;
      firstRight[j * N + i] = f;
    }
  }

  // The last early exit L is swept; the earlier ones are enumerated, each level holding one exit's cut.
  const L = E - 1;
  const lastCuts = exits[L].cuts;
  const m = lastCuts.length;
  const cL = correct[L];
  const CL = costs[L];
  const CF = costs[F];
  // bucket[i]: index of the first swept cut that lets i leave at L (m: never), so a sweep is a prefix sum over buckets.
  const bucket = new Int32Array(N);
  {
    const rank = exits[L].rank;
    for (let i = 0; i < N; i++) {
      const r = rank[i];
      let lo = 0;
      let hi = m;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (lastCuts[mid] > r) hi = mid;
        else lo = mid + 1;
      }
      bucket[i] = lo;
    }
  }
  const nb = Math.ceil(m / BLOCK);
  // Per bucket and per block, over samples still reaching L: Σ (c_L − c_F), count, and how many gain (c_L > c_F).
  const dAcc = new Int32Array(m + 1);
  const dCnt = new Int32Array(m + 1);
  const bAcc = new Int32Array(nb + 1);
  const bCnt = new Int32Array(nb + 1);
  const bGain = new Int32Array(nb + 1);
  const ns = Math.ceil(nb / SUPER);
  const sAcc = new Int32Array(ns + 1);
  const sCnt = new Int32Array(ns + 1);
  const sGain = new Int32Array(ns + 1);
  // H[j·(X+1) + f]: samples still in play at level j whose first right exit from j on is f (the relaxed bound's input).
  const H = new Int32Array((X + 1) * (X + 1));
  let accFixed = 0;
  let costFixed = 0;
  let reaching = N;
  let accFinal = 0;
  for (let i = 0; i < N; i++) {
    accFinal += cF[i];
    const b = bucket[i];
    const d = cL[i] - cF[i];
    dAcc[b] += d;
    dCnt[b]++;
    const q = (b / BLOCK) | 0;
    bAcc[q] += d;
    bCnt[q]++;
    if (d > 0) bGain[q]++;
    const u = (q / SUPER) | 0;
    sAcc[u] += d;
    sCnt[u]++;
    if (d > 0) sGain[u]++;
    for (let j = 0; j <= L; j++) H[j * (X + 1) + firstRight[j * N + i]]++;
  }

  // Samples still reaching each enumerated exit, as doubly linked lists over that exit's order (sentinel N), so a
  // level walks only them; removals are undone in reverse order, which keeps the links valid (dancing links).
  const next: Int32Array[] = [];
  const prev: Int32Array[] = [];
  const posOf: Int32Array[] = [];
  for (let n = 0; n < L; n++) {
    const ord = exits[n].order;
    const len = ord.length;
    const nx = new Int32Array(N + 1);
    const pv = new Int32Array(N + 1);
    const po = new Int32Array(N).fill(-1);
    for (let p = 0; p < len; p++) {
      nx[p] = p + 1 < len ? p + 1 : N;
      pv[p] = p > 0 ? p - 1 : N;
      po[ord[p]] = p;
    }
    nx[N] = len > 0 ? 0 : N;
    pv[N] = len > 0 ? len - 1 : N;
    next.push(nx);
    prev.push(pv);
    posOf.push(po);
  }
  const removedAt = new Int16Array(N).fill(-1);
  const removedStack = new Int32Array(N);
  let stackTop = 0;
  const leftAt = new Int32Array(Math.max(L, 1));
  const cut = new Int32Array(E);

  // Suffix minimum of bestCost, kept exact: S[A] = least cost found with at least A right. A point (A, c) is
  // dominated by something already found iff S[A] ≤ c.
  const S = new Float64Array(N + 2).fill(Infinity);

  function record(A: number, cost: number, j: number, cumCnt: number): void {
    bestCost[A] = cost;
    for (let a = A; a >= 0 && S[a] > cost; a--) S[a] = cost;
    stats.improvements++;
    const o = A * E;
    for (let n = 0; n < L; n++) cutsAt[o + n] = cut[n];
    cutsAt[o + L] = lastCuts[j];
    const x = A * X;
    for (let n = 0; n < L; n++) exitCounts[x + n] = leftAt[n];
    exitCounts[x + L] = cumCnt;
    exitCounts[x + F] = reaching - cumCnt;
  }

  function sweep(): void {
    stats.sweeps++;
    const base = accFixed + accFinal;
    const slope = CF - CL;
    const c0 = costFixed + reaching * CF;
    let cumAcc = 0;
    let cumCnt = 0;
    for (let u = 0; u < ns; u++) {
      // Every cut in a (super)block has at most its gains more right answers than before it, and costs at least
      // what its last cut costs.
      const superEnd = cumCnt + sCnt[u];
      if (S[base + cumAcc + sGain[u]] <= c0 - superEnd * slope) {
        cumAcc += sAcc[u];
        cumCnt = superEnd;
        continue;
      }
      const qEnd = Math.min(nb, (u + 1) * SUPER);
      for (let q = u * SUPER; q < qEnd; q++) {
        const endCnt = cumCnt + bCnt[q];
        if (S[base + cumAcc + bGain[q]] <= c0 - endCnt * slope) {
          cumAcc += bAcc[q];
          cumCnt = endCnt;
          continue;
        }
        const jEnd = Math.min(m, (q + 1) * BLOCK);
        for (let j = q * BLOCK; j < jEnd; j++) {
          cumAcc += dAcc[j];
          cumCnt += dCnt[j];
          const A = base + cumAcc;
          const cost = c0 - cumCnt * slope;
          if (cost < bestCost[A]) record(A, cost, j, cumCnt);
        }
      }
    }
  }

  const stackA = new Int32Array(64);
  const stackB = new Int32Array(64);
  /**
   * Whether everything reachable from the current state is dominated by points already found, when level j's
   * exit is the first still open: each sample in play may then leave at any exit from j on (a relaxation).
   */
  function dominated(j: number): boolean {
    const h = j * (X + 1);
    const Cj = costs[j];
    const A0 = accFixed + H[h + j];
    const c0 = costFixed + reaching * Cj;
    let B = 0;
    let top = c0;
    for (let f = j + 1; f <= F; f++) {
      B += H[h + f];
      top += H[h + f] * (costs[f] - Cj);
    }
    // The most accurate relaxed point is the most likely to survive: test it first.
    if (A0 + B > N || S[A0 + B] > top) return false;
    if (S[A0 + B] <= c0) return true;
    // Relaxed points are (A0 + t, cost of the t cheapest upgrades), t = 0..B. A range [a, b] of t is covered when a
    // found point has ≥ A0 + b right for ≤ the cost at t = a; bisect ranges that are not.
    let sp = 1;
    stackA[0] = 0;
    stackB[0] = B;
    while (sp > 0) {
      sp--;
      const a = stackA[sp];
      const b = stackB[sp];
      let c = c0;
      let t = a;
      for (let f = j + 1; f <= F && t > 0; f++) {
        const s = t < H[h + f] ? t : H[h + f];
        c += s * (costs[f] - Cj);
        t -= s;
      }
      if (S[A0 + b] <= c) continue;
      if (a === b) return false;
      const mid = (a + b) >> 1;
      stackA[sp] = mid + 1;
      stackB[sp] = b;
      sp++;
      stackA[sp] = a;
      stackB[sp] = mid;
      sp++;
    }
    return true;
  }

  /** Takes sample i out of the last exit's sweep buckets (and their block and super-block sums). */
  function leaveSweep(i: number): void {
    const b = bucket[i];
    if (b >= m) return;
    const d = cL[i] - cF[i];
    const q = (b / BLOCK) | 0;
    dAcc[b] -= d;
    dCnt[b]--;
    bAcc[q] -= d;
    bCnt[q]--;
    if (d > 0) bGain[q]--;
    const u = (q / SUPER) | 0;
    sAcc[u] -= d;
    sCnt[u]--;
    if (d > 0) sGain[u]--;
  }

  function remove(i: number, n: number): void {
    removedAt[i] = n;
    removedStack[stackTop++] = i;
    leftAt[n]++;
    accFixed += correct[n][i];
    costFixed += costs[n];
    reaching--;
    accFinal -= cF[i];
    leaveSweep(i);
    for (let j = n; j <= L; j++) H[j * (X + 1) + firstRight[j * N + i]]--;
    for (let j = n + 1; j < L; j++) {
      const p = posOf[j][i];
      if (p >= 0) {
        const nx = next[j];
        const pv = prev[j];
        nx[pv[p]] = nx[p];
        pv[nx[p]] = pv[p];
      }
    }
  }

  function restore(i: number, n: number): void {
    removedAt[i] = -1;
    leftAt[n]--;
    accFixed -= correct[n][i];
    costFixed -= costs[n];
    reaching++;
    accFinal += cF[i];
    const b = bucket[i];
    if (b < m) {
      const d = cL[i] - cF[i];
      const q = (b / BLOCK) | 0;
      dAcc[b] += d;
      dCnt[b]++;
      bAcc[q] += d;
      bCnt[q]++;
      if (d > 0) bGain[q]++;
      const u = (q / SUPER) | 0;
      sAcc[u] += d;
      sCnt[u]++;
      if (d > 0) sGain[u]++;
    }
    for (let j = n; j <= L; j++) H[j * (X + 1) + firstRight[j * N + i]]++;
    for (let j = L - 1; j > n; j--) {
      const p = posOf[j][i];
      if (p >= 0) {
        const nx = next[j];
        const pv = prev[j];
        nx[pv[p]] = p;
        pv[nx[p]] = p;
      }
    }
  }

  let stride = 1;
  function level(n: number): void {
    if (n === L - 1) {
      lastLevel(n);
      return;
    }
    const { cuts: ks, groupStart: gs, order: ord, badStart: bs, badList: bl } = exits[n];
    const nx = next[n];
    const stackBase = stackTop;
    let p = nx[N];
    let lastTried = -stride;
    for (let q = 0; q < ks.length; q++) {
      const end = gs[ks[q]];
      while (p !== N && p < end) {
        remove(ord[p], n);
        p = nx[p];
      }
      const verdict = judgeCut(n, q, ks, lastTried, bs, bl);
      if (verdict === 'skip') continue;
      if (verdict === 'stop') break;
      lastTried = q;
      cut[n] = ks[q];
      if (dominated(n + 1)) {
        stats.pruned++;
        continue;
      }
      level(n + 1);
    }
    while (stackTop > stackBase) {
      const i = removedStack[--stackTop];
      restore(i, n);
    }
  }

  // Saved bucket sums for the last enumerated level, which undoes its removals by copying them back: nothing
  // deeper reads the removal marks or the links, so its samples need not be put back one by one.
  const savedDAcc = new Int32Array(m + 1);
  const savedDCnt = new Int32Array(m + 1);
  const savedBAcc = new Int32Array(nb + 1);
  const savedBCnt = new Int32Array(nb + 1);
  const savedBGain = new Int32Array(nb + 1);
  const savedSAcc = new Int32Array(ns + 1);
  const savedSCnt = new Int32Array(ns + 1);
  const savedSGain = new Int32Array(ns + 1);
  const savedH = new Int32Array(2 * (X + 1));

  /** The level just before the swept exit: like `level`, with removals made cheap (see above). */
  function lastLevel(n: number): void {
    const { cuts: ks, groupStart: gs, order: ord, badStart: bs, badList: bl } = exits[n];
    const nx = next[n];
    const cn = correct[n];
    const Cn = costs[n];
    const hn = n * (X + 1);
    const hL = L * (X + 1);
    const frN = n * N;
    const frL = L * N;
    savedDAcc.set(dAcc);
    savedDCnt.set(dCnt);
    savedBAcc.set(bAcc);
    savedBCnt.set(bCnt);
    savedBGain.set(bGain);
    savedSAcc.set(sAcc);
    savedSCnt.set(sCnt);
    savedSGain.set(sGain);
    savedH.set(H.subarray(hn, hn + X + 1), 0);
    savedH.set(H.subarray(hL, hL + X + 1), X + 1);
    const acc0 = accFixed;
    const cost0 = costFixed;
    const reaching0 = reaching;
    const final0 = accFinal;
    let left = 0;
    let p = nx[N];
    let lastTried = -stride;
    for (let q = 0; q < ks.length; q++) {
      const end = gs[ks[q]];
      while (p !== N && p < end) {
        const i = ord[p];
        p = nx[p];
        left++;
        accFixed += cn[i];
        accFinal -= cF[i];
        leaveSweep(i);
        H[hn + firstRight[frN + i]]--;
        H[hL + firstRight[frL + i]]--;
      }
      reaching = reaching0 - left;
      costFixed = cost0 + left * Cn;
      const verdict = judgeCut(n, q, ks, lastTried, bs, bl);
      if (verdict === 'skip') continue;
      if (verdict === 'stop') break;
      lastTried = q;
      cut[n] = ks[q];
      leftAt[n] = left;
      if (dominated(n + 1)) {
        stats.pruned++;
        continue;
      }
      sweep();
    }
    dAcc.set(savedDAcc);
    dCnt.set(savedDCnt);
    bAcc.set(savedBAcc);
    bCnt.set(savedBCnt);
    bGain.set(savedBGain);
    sAcc.set(savedSAcc);
    sCnt.set(savedSCnt);
    sGain.set(savedSGain);
    H.set(savedH.subarray(0, X + 1), hn);
    H.set(savedH.subarray(X + 1), hL);
    accFixed = acc0;
    costFixed = cost0;
    reaching = reaching0;
    accFinal = final0;
    leftAt[n] = 0;
  }

  /**
   * Whether to try cut q of exit n (of the sorted cuts `ks`): `try` it; `skip` it (off this pass's stride, or
   * dominated by the next cut since no bad sample is left in its group); or `stop`, when nothing from here on can
   * add to the front. The last cut is always tried.
   */
  function judgeCut(n: number, q: number, ks: Int32Array, lastTried: number, bs: Int32Array, bl: Uint32Array): 'try' | 'skip' | 'stop' {
    if (q === ks.length - 1) return 'try';
    if (q - lastTried < stride) return 'skip';
    if (!badStillHere(bs, bl, ks[q])) {
      stats.skipped++;
      return 'skip';
    }
    if (q > 0 && dominated(n)) {
      stats.breaks++;
      return 'stop';
    }
    return 'try';
  }

  /**
   * Whether group g of this exit holds a bad sample still reaching it. If not, the cut just below g only differs
   * from the next one tried by moving samples out here that are never worse off for it, so that cut dominates.
   */
  function badStillHere(bs: Int32Array, bl: Uint32Array, g: number): boolean {
    for (let b = bs[g]; b < bs[g + 1]; b++) if (removedAt[bl[b]] < 0) return true;
    return false;
  }

  if (L === 0) {
    sweep();
  } else {
    for (const s of strides) {
      stride = s;
      level(0);
    }
  }
  return { bestCost, cuts: cutsAt, exitCounts, stats };
}
