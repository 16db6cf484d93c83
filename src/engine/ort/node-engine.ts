import type { Engine } from '../types.ts';
import { ortEngine } from './index.ts';
import type { OrtModule, OrtSessionOptions } from './network.ts';

let loaded: Promise<OrtModule> | undefined;

/** onnxruntime-node, imported on first use so that nothing loads its native binding before it is needed. */
export function loadOnnxruntimeNode(): Promise<OrtModule> {
  loaded ??= import('onnxruntime-node').then((m) => ((m as { default?: OrtModule }).default ?? m) as OrtModule);
  return loaded;
}

/** The onnxruntime engine on onnxruntime-node's CPU provider (`runtime` `ort-cpu`). */
export async function nodeOrtEngine(options: Omit<OrtSessionOptions, 'runtime'> = {}): Promise<Engine> {
  return ortEngine(await loadOnnxruntimeNode(), { ...options, runtime: 'ort-cpu' });
}
