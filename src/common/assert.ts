/**
 * Internal invariant check with a lazily built message: the message costs nothing unless the check fails.
 * For errors a user can cause, throw a typed `BranchyError` instead.
 */
export function assert(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new Error(`branchy internal error: ${message()}`);
}
