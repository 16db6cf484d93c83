import { BranchyArgumentError } from '../../../common/errors.ts';

/**
 * The error builder of one wasm kernel for inputs or attrs it cannot handle. The stable code lets callers tell a
 * refused argument from a bug; the message names the kernel, since the error surfaces in the op that called it.
 */
export function unsupportedAttrErrors(kernelName: string): (message: string) => BranchyArgumentError {
  return (message) => new BranchyArgumentError('KERNEL_UNSUPPORTED_ATTR', `${kernelName} on wasm: ${message}`);
}
