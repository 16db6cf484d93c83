/**
 * The tfjs engine's public face. tfjs itself (core, the cpu and wasm backends) loads on first use, so importing
 * this module, or the browser-safe entry that re-exports it, costs nothing until a network is loaded.
 *
 * @module
 */
import type { Engine, LoadedNetwork, ModelSource } from '../types.ts';
import type { TfjsBackend } from './backend-name.ts';

export { TFJS_BACKENDS, type TfjsBackend } from './backend-name.ts';

/**
 * Selects and initialises a tfjs backend (loading tfjs on first use). Safe to call repeatedly.
 *
 * @throws BranchyArgumentError `ENGINE_UNKNOWN_BACKEND` for a name outside `TFJS_BACKENDS`, `ENGINE_BACKEND_FAILED`
 *   when tfjs cannot initialise it.
 */
export async function useBackend(name: TfjsBackend = 'wasm'): Promise<void> {
  const backend = await import('./backend.ts');
  await backend.useBackend(name);
}

/**
 * The tfjs engine: runs on tfjs-wasm (default) or the pure-JS cpu backend; also the training engine.
 *
 * @example
 * const net = await tfjsEngine('wasm').load(loadModelDir('models/b-lenet-mnist'));
 */
export function tfjsEngine(backend: TfjsBackend = 'wasm'): Engine {
  return {
    name: 'tfjs',
    async load(model: ModelSource): Promise<LoadedNetwork> {
      await useBackend(backend);
      const { TfjsNetwork } = await import('./network.ts');
      return TfjsNetwork.fromSource(model);
    },
  };
}
