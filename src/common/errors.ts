/**
 * Every error branchy throws on purpose carries a stable `code`, so that the CLI can print it, the server can
 * map it to an HTTP status and tests can assert on it without matching prose.
 */
export class BranchyError extends Error {
  /** Stable machine-readable code, e.g. `SPEC_UNKNOWN_LAYER`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A network description (`branchy.json` spec or a zoo entry) is invalid. */
export class BranchySpecError extends BranchyError {}

/** A data set or input file is missing, malformed or does not fit the network. */
export class BranchyDataError extends BranchyError {}

/** A model directory, weight file or frame is missing or corrupt. */
export class BranchyIoError extends BranchyError {}

/** A caller passed an argument the library cannot use (bad thresholds, unknown criterion, …). */
export class BranchyArgumentError extends BranchyError {}
