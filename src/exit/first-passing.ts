import { BranchyArgumentError } from '../common/errors.ts';

/**
 * The early-exit rule, written plainly: the 0-based index of the first exit `n < N−1` whose score is below its
 * threshold (`scores[n] < thresholds[n]`), else `N−1`, the final exit, which always answers.
 *
 * This is the reference the batched runner is tested against, so it favours obviousness over speed. A `NaN`
 * score never passes (`NaN < t` is false), so a broken exit defers to the later ones instead of answering.
 *
 * @param scores one score per exit (N ≥ 1), final exit last.
 * @param thresholds one threshold per early exit (N−1).
 * @throws BranchyArgumentError code `EXIT_THRESHOLD_COUNT` when there are no scores or the counts do not match.
 * @example
 * ```ts
 * firstPassingExit([0.9, 0.02, 0.5], [0.1, 0.05]); // 1
 * firstPassingExit([0.9, 0.3, 0.5], [0.1, 0.05]); // 2 (the final exit)
 * ```
 */
export function firstPassingExit(scores: ArrayLike<number>, thresholds: ArrayLike<number>): number {
  const exits = scores.length;
  if (exits < 1 || thresholds.length !== exits - 1) {
    throw new BranchyArgumentError(
      'EXIT_THRESHOLD_COUNT',
      `firstPassingExit got ${scores.length} score(s) and ${thresholds.length} threshold(s); expected at least ` +
        `one score (one per exit) and one threshold per early exit, i.e. one fewer threshold than scores.`,
    );
  }
  for (let n = 0; n < exits - 1; n++) {
    if (scores[n] < thresholds[n]) return n;
  }
  return exits - 1;
}
