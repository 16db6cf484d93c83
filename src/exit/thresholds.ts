import { BranchyArgumentError } from '../common/errors.ts';
import type { ExitCriterion } from './criterion.ts';

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/**
 * Checks per-exit thresholds against a network and a criterion, and returns them as a `Float64Array` (one per
 * early exit; the final exit always answers and takes no threshold).
 *
 * Each threshold must be finite, ≥ 0 and at most the criterion's upper score bound for `classes` classes.
 * A threshold above that bound would send every sample out at that exit; it is almost always a unit slip
 * (bits for nats, a confidence 0.95 given to `max-prob`, a percentage), so it is rejected. Use the upper bound
 * itself to let (nearly) everything exit, and 0 to let nothing exit (scores are never < 0).
 *
 * @throws BranchyArgumentError code `EXIT_THRESHOLD_COUNT` when the count differs from `earlyExits`,
 *   `EXIT_THRESHOLD_VALUE` for a value that is not finite, negative or above the criterion's range.
 * @example
 * ```ts
 * const t = validateThresholds([0.025, 0.1], 2, getCriterion('entropy'), 10); // Float64Array [0.025, 0.1]
 * ```
 */
export function validateThresholds(thresholds: readonly number[], earlyExits: number, criterion: ExitCriterion, classes: number): Float64Array {
  if (!Number.isInteger(earlyExits) || earlyExits < 0) {
    throw new BranchyArgumentError('EXIT_BAD_EARLY_EXITS', `'earlyExits' is ${String(earlyExits)}; expected an integer ≥ 0.`);
  }
  if (!Array.isArray(thresholds)) {
    throw new BranchyArgumentError(
      'EXIT_THRESHOLD_COUNT',
      `'thresholds' is ${String(thresholds)}; expected an array of ${plural(earlyExits, 'number', 'numbers')}.`,
    );
  }
  if (thresholds.length !== earlyExits) {
    throw new BranchyArgumentError(
      'EXIT_THRESHOLD_COUNT',
      `'thresholds' has ${plural(thresholds.length, 'value', 'values')}; this network has ` +
        `${plural(earlyExits, 'early exit', 'early exits')}.` +
        (earlyExits > 0 ? ' Give one threshold per early exit, or a single value for all of them.' : ''),
    );
  }
  const [, upper] = criterion.range(classes);
  const out = new Float64Array(earlyExits);
  for (let i = 0; i < earlyExits; i++) {
    const t: unknown = thresholds[i];
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
      throw new BranchyArgumentError('EXIT_THRESHOLD_VALUE', `'thresholds[${i}]' is ${describe(t)}; expected a finite number ≥ 0.`);
    }
    if (t > upper) {
      throw new BranchyArgumentError(
        'EXIT_THRESHOLD_VALUE',
        `'thresholds[${i}]' is ${t}; criterion '${criterion.name}' scores lie in [0, ${round(upper)}] for ` +
          `${plural(classes, 'class', 'classes')}, so this threshold would send every sample out at exit ${i + 1}. ` +
          `Expected a value in [0, ${round(upper)}].`,
      );
    }
    out[i] = t;
  }
  return out;
}

/**
 * Parses thresholds typed on the command line: one number (`"0.025"`) or a comma-separated list
 * (`"0.025,0.1"`); spaces around items are allowed. Only syntax is checked here: values are checked against
 * the network by {@link validateThresholds}.
 *
 * @throws BranchyArgumentError code `EXIT_THRESHOLD_VALUE` for empty text or an item that is not a decimal number.
 * @example
 * ```ts
 * parseThresholds('0.025, 0.1'); // [0.025, 0.1]
 * ```
 */
export function parseThresholds(text: string): number[] {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new BranchyArgumentError(
      'EXIT_THRESHOLD_VALUE',
      `Thresholds ${describe(text)} are empty; expected a number like '0.025' or a comma-separated list like '0.025,0.1'.`,
    );
  }
  // Number('') is 0 and Number('0x10') is 16, so insist on plain decimal syntax before converting.
  const decimal = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
  return text.split(',').map((raw, i) => {
    const item = raw.trim();
    if (!decimal.test(item)) {
      throw new BranchyArgumentError(
        'EXIT_THRESHOLD_VALUE',
        `Threshold ${i} in ${JSON.stringify(text)} is ${JSON.stringify(item)}; expected a decimal number like ` +
          `'0.025' (several thresholds are separated by commas: '0.025,0.1').`,
      );
    }
    return Number(item);
  });
}

/**
 * Expands a single threshold to one per early exit, so that `--threshold 0.05` applies to every early exit.
 * Lists of any other length are returned as a copy, unchanged, for {@link validateThresholds} to judge; so is
 * a single value for a network without early exits, so that the mistake is reported rather than dropped.
 *
 * @example
 * ```ts
 * broadcastThresholds([0.05], 3); // [0.05, 0.05, 0.05]
 * broadcastThresholds([0.05, 0.1], 2); // [0.05, 0.1]
 * ```
 */
export function broadcastThresholds(thresholds: readonly number[], earlyExits: number): number[] {
  if (thresholds.length === 1 && Number.isInteger(earlyExits) && earlyExits > 0) {
    return new Array<number>(earlyExits).fill(thresholds[0]);
  }
  return [...thresholds];
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  return `${String(value)} (${value === null ? 'null' : typeof value})`;
}

function round(x: number): string {
  return String(Number(x.toPrecision(6)));
}
