import { BranchyArgumentError } from '../common/errors.ts';
import type { ExitCriterion } from './criterion.ts';

// Insertion-ordered, so listCriteria() shows the built-ins in the order index.ts imports them (entropy first,
// the paper's criterion) and user criteria after them.
const criteria = new Map<string, ExitCriterion>();

/**
 * Makes `criterion` available to {@link getCriterion} under `criterion.name`. Registering the same object
 * twice is harmless; registering a different criterion under a taken name is an error (code
 * `EXIT_DUPLICATE_CRITERION`), because silently replacing e.g. `entropy` would change what saved thresholds mean.
 *
 * @example
 * ```ts
 * registerCriterion({
 *   name: 'top1-gap', description: '1 − p_top1, squared',
 *   score: (p, c, o = 0) => { let m = 0; for (let i = o; i < o + c; i++) if (p[i] > m) m = p[i]; return (1 - m) ** 2; },
 *   range: (c) => [0, (1 - 1 / c) ** 2],
 * });
 * ```
 */
export function registerCriterion(criterion: ExitCriterion): void {
  const name: unknown = (criterion as { name?: unknown } | null | undefined)?.name;
  if (typeof name !== 'string' || name.length === 0 || typeof criterion.score !== 'function' || typeof criterion.range !== 'function') {
    throw new BranchyArgumentError(
      'EXIT_BAD_CRITERION',
      `Cannot register exit criterion with name ${JSON.stringify(name) ?? String(name)}; expected an object with ` +
        `a non-empty string 'name' and 'score' and 'range' functions.`,
    );
  }
  const existing = criteria.get(name);
  if (existing !== undefined && existing !== criterion) {
    throw new BranchyArgumentError('EXIT_DUPLICATE_CRITERION', `An exit criterion named '${name}' is already registered; choose another name.`);
  }
  criteria.set(name, criterion);
}

/**
 * The registered criterion called `name`.
 *
 * @throws BranchyArgumentError code `EXIT_UNKNOWN_CRITERION` (listing the registered names) when there is none.
 */
export function getCriterion(name: string): ExitCriterion {
  const found = criteria.get(name);
  if (found === undefined) {
    const known = [...criteria.keys()];
    throw new BranchyArgumentError(
      'EXIT_UNKNOWN_CRITERION',
      `Unknown exit criterion ${JSON.stringify(name) ?? String(name)}; registered criteria: ` +
        `${known.length > 0 ? known.join(', ') : '(none — import the exit module to register the built-ins)'}.`,
    );
  }
  return found;
}

/** All registered criteria, in registration order (built-ins first). The array is a copy. */
export function listCriteria(): readonly ExitCriterion[] {
  return [...criteria.values()];
}
