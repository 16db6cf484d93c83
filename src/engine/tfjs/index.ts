import type { Engine, LoadedNetwork, ModelSource } from '../types.ts';
import { useBackend, type TfjsBackend } from './backend.ts';
import { TfjsNetwork } from './network.ts';

export { useBackend, currentBackend, TFJS_BACKENDS, type TfjsBackend } from './backend.ts';
export { TfjsNetwork, type ForwardOptions, type PieceKind } from './network.ts';

/** The tfjs engine: runs on tfjs-wasm (default) or the pure-JS cpu backend; also the training engine. */
export function tfjsEngine(backend: TfjsBackend = 'wasm'): Engine {
  return {
    name: 'tfjs',
    async load(model: ModelSource): Promise<LoadedNetwork> {
      await useBackend(backend);
      return TfjsNetwork.fromSource(model);
    },
  };
}
