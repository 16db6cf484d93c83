import { checkClasses, checkSlice, type ExitCriterion } from './criterion.ts';
import { registerCriterion } from './registry.ts';

/**
 * 1 − max p. Stated as a distance from certainty (rather than the top probability itself) so that, like
 * every criterion, lower means more confident and thresholds stay positive. In [0, 1 − 1/C].
 */
export const maxProbCriterion: ExitCriterion = Object.freeze({
  name: 'max-prob',
  description: '1 − the top class probability, in [0, 1 − 1/C]; e.g. threshold 0.1 exits when the top class has > 90%.',
  score(probs: Float32Array, classes: number, offset = 0): number {
    checkSlice('max-prob', probs, classes, offset);
    let max = probs[offset];
    const end = offset + classes;
    for (let i = offset + 1; i < end; i++) if (probs[i] > max) max = probs[i];
    return 1 - max;
  },
  range(classes: number): readonly [number, number] {
    checkClasses('max-prob', classes);
    return [0, 1 - 1 / classes];
  },
});

registerCriterion(maxProbCriterion);
