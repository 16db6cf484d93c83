import { checkClasses, checkSlice, type ExitCriterion } from './criterion.ts';
import { registerCriterion } from './registry.ts';

/**
 * 1 − (p_top1 − p_top2): small when the best class clearly beats the runner-up. In [0, 1]. With a single
 * class the runner-up probability is taken as 0.
 */
export const marginCriterion: ExitCriterion = Object.freeze({
  name: 'margin',
  description: '1 − (top probability − second probability), in [0, 1]; low when the winner clearly beats the runner-up.',
  score(probs: Float32Array, classes: number, offset = 0): number {
    checkSlice('margin', probs, classes, offset);
    // One pass tracking the two largest values; no sort, no allocation.
    let top1 = probs[offset];
    let top2 = 0;
    let haveTop2 = false;
    const end = offset + classes;
    for (let i = offset + 1; i < end; i++) {
      const p = probs[i];
      if (p > top1) {
        top2 = top1;
        top1 = p;
      } else if (!haveTop2 || p > top2) {
        top2 = p;
      }
      haveTop2 = true;
    }
    return 1 - (top1 - top2);
  },
  range(classes: number): readonly [number, number] {
    checkClasses('margin', classes);
    return [0, 1];
  },
});

registerCriterion(marginCriterion);
