/**
 * Exit criteria for early-exit networks: how confident an exit's softmax is, which thresholds are valid, and
 * which exit answers. Browser-safe. Importing this module registers the built-in criteria
 * (`entropy`, `normalized-entropy`, `max-prob`, `margin`).
 *
 * @example
 * ```ts
 * import { getCriterion, parseThresholds, broadcastThresholds, validateThresholds } from './exit/index.ts';
 * const criterion = getCriterion('entropy');
 * const thresholds = validateThresholds(broadcastThresholds(parseThresholds('0.05'), 2), 2, criterion, 10);
 * ```
 *
 * @module
 */
export type { ExitCriterion } from './criterion.ts';
export { registerCriterion, getCriterion, listCriteria } from './registry.ts';
// Imported for their side effect (registration) as much as for the named exports; order = listCriteria() order.
export { entropyCriterion } from './entropy.ts';
export { normalizedEntropyCriterion } from './normalized-entropy.ts';
export { maxProbCriterion } from './max-prob.ts';
export { marginCriterion } from './margin.ts';
export { validateThresholds, parseThresholds, broadcastThresholds } from './thresholds.ts';
export { firstPassingExit } from './first-passing.ts';
