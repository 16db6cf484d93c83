import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { BranchyArgumentError } from '../../common/errors.ts';
import { registerWasmGradientKernels } from './kernels/index.ts';

/** tfjs backends branchy can run on: `wasm` (default, fast) or `cpu` (pure JavaScript, the reference). */
export type TfjsBackend = 'wasm' | 'cpu';

/** The tfjs backend names branchy accepts. */
export const TFJS_BACKENDS: readonly TfjsBackend[] = ['wasm', 'cpu'];

/**
 * Selects and initialises a tfjs backend. On `wasm` it also registers the gradient kernels tfjs-wasm lacks, so
 * conv nets can train there. Safe to call repeatedly.
 */
export async function useBackend(name: TfjsBackend = 'wasm'): Promise<void> {
  if (!TFJS_BACKENDS.includes(name)) {
    throw new BranchyArgumentError('ENGINE_UNKNOWN_BACKEND', `'backend' is ${JSON.stringify(name)}; expected one of ${TFJS_BACKENDS.join(', ')}.`);
  }
  // PROD silences tfjs's console advice to install tfjs-node (which cannot install here) and skips debug checks.
  tf.env().set('PROD', true);
  if (name === 'wasm') registerWasmGradientKernels();
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new BranchyArgumentError('ENGINE_BACKEND_FAILED', `tfjs backend '${name}' failed to initialise.`);
  }
  await tf.ready();
}

/** The active tfjs backend's name. */
export function currentBackend(): string {
  return tf.getBackend();
}
