import { checkClasses, checkSlice, type ExitCriterion } from './criterion.ts';
import { entropyOf } from './entropy.ts';
import { registerCriterion } from './registry.ts';

/**
 * Entropy divided by its maximum ln C, so scores lie in [0, 1] whatever the class count: one threshold
 * then means the same for a 10-class and a 1000-class network. With a single class the entropy is always 0
 * and so is the score.
 */
export const normalizedEntropyCriterion: ExitCriterion = Object.freeze({
  name: 'normalized-entropy',
  description: 'Entropy divided by ln C, in [0, 1]: a threshold means the same for any number of classes.',
  score(probs: Float32Array, classes: number, offset = 0): number {
    checkSlice('normalized-entropy', probs, classes, offset);
    // ln 1 = 0: avoid 0/0 for the degenerate one-class case.
    if (classes === 1) return 0;
    // entropyOf already clamps to [0, ln C], so the quotient stays in [0, 1].
    return entropyOf(probs, classes, offset) / Math.log(classes);
  },
  range(classes: number): readonly [number, number] {
    checkClasses('normalized-entropy', classes);
    return [0, 1];
  },
});

registerCriterion(normalizedEntropyCriterion);
