import { BranchyError } from '../common/errors.ts';
import { BranchyServeError } from '../serve/errors.ts';
import { BranchyCascadeError } from './errors.ts';

/**
 * The status and body a unit answers an error with, over HTTP and NATS alike: a cascade or server error keeps its
 * status, any other coded error is the sender's (400), anything else the unit's own failure (500).
 */
export function unitErrorReply(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof BranchyCascadeError || error instanceof BranchyServeError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof BranchyError) return { status: 400, code: error.code, message: error.message };
  return { status: 500, code: 'CASCADE_UNIT_FAILED', message: `the unit failed: ${error instanceof Error ? error.message : String(error)}` };
}
