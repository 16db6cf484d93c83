/** tfjs backends branchy can run on: `wasm` (default, fast) or `cpu` (pure JavaScript, the reference). */
export type TfjsBackend = 'wasm' | 'cpu';

/** The tfjs backend names branchy accepts. */
export const TFJS_BACKENDS: readonly TfjsBackend[] = ['wasm', 'cpu'];
