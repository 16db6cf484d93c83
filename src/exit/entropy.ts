import { checkClasses, checkSlice, type ExitCriterion } from './criterion.ts';
import { registerCriterion } from './registry.ts';

/**
 * Shannon entropy in nats, −Σ p ln p with 0·ln 0 = 0: the criterion of the BranchyNet paper.
 * 0 for a one-hot vector, ln C for the uniform one.
 */
export const entropyCriterion: ExitCriterion = Object.freeze({
  name: 'entropy',
  description: 'Shannon entropy of the softmax in nats (−Σ p ln p), in [0, ln C]; the BranchyNet paper’s criterion.',
  score(probs: Float32Array, classes: number, offset = 0): number {
    checkSlice('entropy', probs, classes, offset);
    return entropyOf(probs, classes, offset);
  },
  range(classes: number): readonly [number, number] {
    checkClasses('entropy', classes);
    return [0, Math.log(classes)];
  },
});

/**
 * Unchecked entropy kernel, shared with `normalized-entropy`.
 *
 * @internal
 */
export function entropyOf(probs: Float32Array, classes: number, offset: number): number {
  let h = 0;
  const end = offset + classes;
  for (let i = offset; i < end; i++) {
    const p = probs[i];
    // p ≤ 0 contributes nothing (0·ln 0 = 0 by continuity); also keeps ln away from negatives.
    if (p > 0) h -= p * Math.log(p);
  }
  // Float32 softmax outputs do not sum to exactly 1, so the sum can stray a few ulps outside [0, ln C];
  // clamp so that scores honour range() (thresholds at the bounds then behave as documented).
  const max = Math.log(classes);
  return h < 0 ? 0 : h > max ? max : h;
}

registerCriterion(entropyCriterion);
