import { gunzipSync } from 'node:zlib';
import { BranchyDataError, type DataErrorCode } from '../common/errors.ts';

/**
 * Most bytes a gzipped data file may inflate to (1 GiB): well above any IDX or CIFAR-10 file (Fashion-MNIST's
 * training images are 47 MB), and far below what a small corrupt or hostile stream could otherwise make us
 * allocate (deflate expands up to 1032×).
 */
export const MAX_INFLATED_BYTES = 2 ** 30;

/**
 * Inflates a gzip stream of a data file, at most `maxBytes` of output.
 *
 * @throws BranchyDataError `corruptCode` for a stream that does not inflate, `DATA_INFLATE_TOO_LARGE` for one
 *   that inflates past `maxBytes`; both name the file.
 */
export function gunzipDataFile(bytes: Uint8Array, name: string, corruptCode: DataErrorCode, expected: string, maxBytes = MAX_INFLATED_BYTES): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BranchyDataError('DATA_INFLATE_TOO_LARGE', `${name}: inflates to more than ${maxBytes} bytes, the most a gzipped data file may hold.`, {
        cause,
      });
    }
    throw new BranchyDataError(
      corruptCode,
      `${name}: starts with the gzip magic 0x1f 0x8b but does not inflate (${(cause as Error).message}): expected ${expected}.`,
      { cause },
    );
  }
}
