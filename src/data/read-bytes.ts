import { readFileSync } from 'node:fs';
import { BranchyDataError } from '../common/errors.ts';

/** A data file's bytes, or `DATA_NOT_FOUND` naming the file and why it cannot be read. */
export function readDataFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new BranchyDataError('DATA_NOT_FOUND', `${path}: cannot be read (${(cause as Error).message}).`, { cause });
  }
}
