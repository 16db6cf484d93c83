import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { BranchyArgumentError } from '../../common/errors.ts';
import { TFJS_BACKENDS, type TfjsBackend } from './backend-name.ts';

/**
 * Selects and initialises a tfjs backend. Safe to call repeatedly. It registers no kernels of branchy's own:
 * training on wasm calls `useWasmTrainingKernels` for the gradient kernels tfjs-wasm lacks.
 */
export async function useBackend(name: TfjsBackend = 'wasm'): Promise<void> {
  if (!TFJS_BACKENDS.includes(name)) {
    throw new BranchyArgumentError('ENGINE_UNKNOWN_BACKEND', `'backend' is ${JSON.stringify(name)}; expected one of ${TFJS_BACKENDS.join(', ')}.`);
  }
  // PROD silences tfjs's console advice to install tfjs-node (which cannot install here) and skips debug checks.
  tf.env().set('PROD', true);
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
