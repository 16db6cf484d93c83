/**
 * The engines the page can run its unit on, each loaded only when chosen and pointed at the WebAssembly binaries
 * the unit's server serves (no CDN): onnxruntime-web on wasm (the default) and tfjs on its wasm backend.
 *
 * @module
 */
import { BranchyArgumentError, ortEngine, tfjsEngine, type Engine } from '../index.ts';

/** The page's engine choices. */
export type PageEngineName = 'ort-wasm' | 'tfjs-wasm';

/** The choices, default first, with what the page calls them. */
export const PAGE_ENGINES: readonly { name: PageEngineName; label: string }[] = Object.freeze([
  { name: 'ort-wasm', label: 'onnxruntime-web (WebAssembly)' },
  { name: 'tfjs-wasm', label: 'TensorFlow.js (WebAssembly backend)' },
]);

/**
 * The engine `name`, its runtime loaded from the page's bundle and its WebAssembly from `wasm` (URL prefixes).
 * Both run on one thread: the page is not cross-origin isolated, so WebAssembly threads are not available, and
 * at batch 1 a small unit would not gain from them.
 *
 * @throws BranchyArgumentError `ENGINE_UNKNOWN_BACKEND` for another name.
 */
export async function pageEngine(name: PageEngineName, wasm: { ort: string; tfjs: string }): Promise<Engine> {
  if (name === 'ort-wasm') {
    const ort = await import('onnxruntime-web/wasm');
    // Only the binary's URL: its JavaScript glue is in the bundle, so no script is loaded from the wasm folder.
    ort.env.wasm.wasmPaths = { wasm: new URL(`${wasm.ort}ort-wasm-simd-threaded.wasm`, location.href).href };
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    // 'fetch': the first unit hands its last stage's features on, so there is no carry mode to measure at load.
    return ortEngine(ort, { runtime: 'ort-wasm', carry: 'fetch' });
  }
  if (name === 'tfjs-wasm') {
    const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
    setWasmPaths(new URL(wasm.tfjs, location.href).href);
    return tfjsEngine('wasm');
  }
  throw new BranchyArgumentError('ENGINE_UNKNOWN_BACKEND', `engine ${JSON.stringify(name)} is not one of ${PAGE_ENGINES.map((e) => e.name).join(', ')}.`);
}
