import { BranchyArgumentError } from '../common/errors.ts';

/**
 * Scores one sample's class probabilities; lower = more confident. The sample exits when score < threshold.
 *
 * Implementations live one per file in `src/exit/` and register themselves with {@link registerCriterion}
 * (see `registry.ts`), so the CLI and the runner can look them up by `name`.
 *
 * @example
 * ```ts
 * const probs = new Float32Array([0.7, 0.2, 0.1, 0.1, 0.1, 0.8]); // two samples, three classes
 * const c = getCriterion('entropy');
 * const secondSample = c.score(probs, 3, 3);
 * const [lo, hi] = c.range(3); // [0, ln 3]
 * ```
 */
export interface ExitCriterion {
  readonly name: string;
  /** Short human description, shown by the CLI. */
  readonly description: string;
  /** Score of probs[offset .. offset+classes). Must not allocate (hot path). */
  score(probs: Float32Array, classes: number, offset?: number): number;
  /** The range scores fall in for `classes` classes, e.g. [0, ln C] for entropy: used to validate thresholds and to build calibration grids. */
  range(classes: number): readonly [number, number];
}

/**
 * Checks that `classes` is a usable class count (an integer ≥ 1) for criterion `criterion`.
 * Shared by the built-in criteria; not part of the package's public face.
 *
 * @internal
 */
export function checkClasses(criterion: string, classes: number): void {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new BranchyArgumentError('EXIT_BAD_CLASSES', `Exit criterion '${criterion}': 'classes' is ${String(classes)}; expected an integer ≥ 1.`);
  }
}

/**
 * Checks that `probs[offset .. offset+classes)` lies inside `probs`. Only comparisons, so it is cheap enough
 * for the hot path, and it turns a silent out-of-bounds read (which would yield `NaN` and quietly never exit)
 * into an error that says what was wrong.
 *
 * @internal
 */
export function checkSlice(criterion: string, probs: Float32Array, classes: number, offset: number): void {
  if (!Number.isInteger(classes) || classes < 1 || !Number.isInteger(offset) || offset < 0 || offset + classes > probs.length) {
    throw new BranchyArgumentError(
      'EXIT_BAD_SLICE',
      `Exit criterion '${criterion}': cannot score probs[${String(offset)} .. ${String(offset)}+${String(classes)}) ` +
        `of an array of length ${probs.length}; expected an integer 'classes' ≥ 1 and an integer 'offset' ≥ 0 ` +
        `with offset + classes ≤ probs.length.`,
    );
  }
}
