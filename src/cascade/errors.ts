import { BranchyError } from '../common/errors.ts';

/** The cascade's codes. */
export type CascadeErrorCode =
  | 'CASCADE_BAD_PLAN'
  | 'CASCADE_BAD_CUT'
  | 'CASCADE_UNKNOWN_UNIT'
  | 'CASCADE_WRONG_MODEL'
  | 'CASCADE_WRONG_STAGE'
  | 'CASCADE_BAD_FRAME'
  | 'CASCADE_BAD_SHAPE'
  | 'CASCADE_BAD_DTYPE'
  | 'CASCADE_FRAME_TOO_LARGE'
  | 'CASCADE_NO_SUCCESSOR'
  | 'CASCADE_NATS_UNREACHABLE'
  | 'CASCADE_UNIT_FAILED'
  | 'CASCADE_WEB_UNIT'
  | 'CASCADE_WEB_NOT_BUILT'
  | 'CASCADE_WEB_SAMPLES'
  | 'CASCADE_WEB_ORIGIN'
  | 'CASCADE_BAD_TIERS'
  | 'CASCADE_BAD_PROFILE'
  | 'CASCADE_PROFILE_MISMATCH'
  | 'CASCADE_NOT_CALIBRATED'
  | 'CASCADE_NO_PLACEMENT'
  | 'CASCADE_PLAN_IMPOSSIBLE'
  | 'CASCADE_BAD_SLO';

/**
 * A unit refused something: a plan it cannot run, or an input frame from another model or stage, of another shape
 * or dtype, or malformed. `status` is the HTTP status a unit answers it with (4xx for a bad frame).
 */
export class BranchyCascadeError extends BranchyError<CascadeErrorCode> {
  readonly status: number;

  constructor(code: CascadeErrorCode, message: string, status = 400, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/**
 * A tiers file (or a tier profile) holds a field of the wrong type or value: `field` is its path in the file
 * (`tiers[0].speedFactor`), `seen` the value found, `expected` what it must be, all quoted in the message.
 */
export class BranchyTiersError extends BranchyCascadeError {
  readonly field: string;
  readonly seen: string;
  readonly expected: string;

  constructor(code: 'CASCADE_BAD_TIERS' | 'CASCADE_BAD_PROFILE', source: string, field: string, seen: string, expected: string) {
    super(code, `'${source}': ${field} ${seen}; expected ${expected}.`);
    this.field = field;
    this.seen = seen;
    this.expected = expected;
  }
}

/**
 * A hop failed: the successor did not answer in time, could not be reached, had no responders or answered with an
 * error. The unit answers from its own last exit, `degraded`, with `reason`.
 */
export class CascadeHopError extends Error {
  /**
   * Short and stable, for the answer and the metrics: `timeout`, `unreachable`, `no responders`, `successor refused:
   * CODE` (4xx), `successor error: CODE` (5xx).
   */
  readonly reason: string;

  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.name = 'CascadeHopError';
  }
}

/** The degraded answer's reason for an error reply: the sender's fault (4xx) is refused, the unit's (5xx) an error. */
export function replyReason(status: number, code: string): string {
  return `${status < 500 ? 'successor refused' : 'successor error'}: ${code}`;
}
