import type { ExitCriterion } from '../exit/index.ts';
import { argmaxRow, type AllExitsResult } from '../infer/index.ts';

/** Thresholds chosen to keep accuracy, with the figures they reach on the table they were chosen on. */
export interface AccuracyTargetChoice {
  thresholds: number[];
  accuracy: number;
  finalAccuracy: number;
  /** Share of samples leaving at each exit. */
  exitShare: number[];
  /** Share of samples an early exit gets wrong where the final exit is right. */
  lossShare: number;
}

/**
 * Chooses thresholds, exit by exit from the first, each as large as it can be (so as many samples as possible
 * leave there) while the samples that an early exit gets wrong but the final exit gets right stay at most
 * `maxDrop` of the table (a share, e.g. 0.001 for 0.1 points). Later exits are still closed (threshold 0) while an
 * earlier one is chosen.
 *
 * The bound is on those losses, not on the net accuracy: on a small validation split, samples an early exit
 * happens to get right where the final exit does not can hide real losses, and a threshold chosen on the net
 * figure then gives up accuracy on new data. Bounding the losses also bounds the net drop.
 *
 * With one early exit this is exact: the cheapest point within the accuracy bound. With several it is greedy
 * (earlier exits first, as they save the most). Candidate thresholds are the exit's own sorted scores, so no grid
 * is involved. O(E · N log N) for E early exits and N samples.
 *
 * Choose on the validation split, never on the test split.
 */
export function chooseThresholdsForAccuracy(table: AllExitsResult, labels: Uint8Array, criterion: ExitCriterion, maxDrop: number): AccuracyTargetChoice {
  const { count: N, classes: C, probs } = table;
  const depth = probs.length;
  const correct = probs.map((p) => {
    const ok = new Uint8Array(N);
    for (let i = 0; i < N; i++) ok[i] = argmaxRow(p, i * C, C) === labels[i] ? 1 : 0;
    return ok;
  });
  const finalCorrect = correct[depth - 1].reduce((a, b) => a + b, 0);
  // Counted in samples, with a little slack so that maxDrop·N landing on a whole number is not lost to rounding.
  const allowedLosses = maxDrop * N + 1e-9;
  let losses = 0;
  const exitAt = new Int32Array(N).fill(depth - 1);
  const thresholds: number[] = new Array(depth - 1).fill(0);
  // Correct answers among all samples with the current decisions.
  let totalCorrect = finalCorrect;
  for (let n = 0; n < depth - 1; n++) {
    const reaching: number[] = [];
    for (let i = 0; i < N; i++) if (exitAt[i] === depth - 1) reaching.push(i);
    const scores = new Float64Array(N);
    for (const i of reaching) scores[i] = criterion.score(probs[n], C, i * C);
    reaching.sort((a, b) => scores[a] - scores[b]);
    // Taking the first k of `reaching` out at exit n changes their answer from the final exit's to exit n's.
    let best = 0;
    let bestCorrect = totalCorrect;
    let bestLosses = losses;
    let running = totalCorrect;
    let runningLosses = losses;
    for (let k = 1; k <= reaching.length; k++) {
      const i = reaching[k - 1];
      running += correct[n][i] - correct[depth - 1][i];
      if (correct[depth - 1][i] === 1 && correct[n][i] === 0) runningLosses++;
      if (runningLosses > allowedLosses) break;
      const boundary = k === reaching.length || scores[reaching[k]] > scores[i];
      if (boundary) {
        best = k;
        bestCorrect = running;
        bestLosses = runningLosses;
      }
    }
    if (best > 0) {
      const last = scores[reaching[best - 1]];
      const next = best < reaching.length ? scores[reaching[best]] : last + 1e-6;
      thresholds[n] = Math.min((last + next) / 2, criterion.range(C)[1]);
      for (let k = 0; k < best; k++) exitAt[reaching[k]] = n;
      totalCorrect = bestCorrect;
      losses = bestLosses;
    }
  }
  const exitShare = new Array<number>(depth).fill(0);
  for (let i = 0; i < N; i++) exitShare[exitAt[i]] += 1 / N;
  return { thresholds, accuracy: totalCorrect / N, finalAccuracy: finalCorrect / N, exitShare, lossShare: losses / N };
}
