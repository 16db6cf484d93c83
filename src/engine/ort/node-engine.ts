import { createRequire } from 'node:module';
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { Engine } from '../types.ts';
import { ortEngine } from './index.ts';
import type { OrtModule, OrtSession, OrtSessionOptions } from './network.ts';

let loaded: Promise<OrtModule> | undefined;

/** onnxruntime-node, imported on first use so that nothing loads its native binding before it is needed. */
export function loadOnnxruntimeNode(): Promise<OrtModule> {
  loaded ??= import('onnxruntime-node').then((m) => ((m as { default?: OrtModule }).default ?? m) as OrtModule);
  return loaded;
}

/** onnxruntime-node's native session (`onnxruntime-node/dist/binding.js`), which its public session wraps. */
interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: InferenceSession.SessionOptions): void;
  readonly inputMetadata: readonly { name: string }[];
  readonly outputMetadata: readonly { name: string }[];
  run(feeds: InferenceSession.FeedsType, fetches: Record<string, null>, options: object): Record<string, Tensor>;
  dispose(): void;
}

interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

/**
 * onnxruntime-node with sessions that run in the calling tick. The public `session.run` defers every call to
 * the next turn of the event loop (`setImmediate`) and then runs it on the main thread anyway; at batch 1 on a
 * small network that deferral and its wrapping are a large share of the call. These sessions call the same native
 * session directly; model loading, options and outputs are onnxruntime-node's own. When onnxruntime-node does not
 * expose its native session as expected, the public module is returned unchanged.
 */
async function directOnnxruntimeNode(): Promise<OrtModule> {
  const ort = await loadOnnxruntimeNode();
  let native: NativeBinding;
  try {
    native = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as NativeBinding;
    if (typeof native.initOrt !== 'function' || typeof native.binding?.InferenceSession !== 'function') return ort;
  } catch {
    return ort;
  }
  const create = async (model: Uint8Array, options: InferenceSession.SessionOptions = {}): Promise<OrtSession> => {
    native.initOrt();
    const session = new native.binding.InferenceSession();
    try {
      session.loadModel(model.buffer, model.byteOffset, model.byteLength, options);
    } catch (error) {
      session.dispose();
      throw error;
    }
    const outputNames = session.outputMetadata.map((m) => m.name);
    const fetches = Object.fromEntries(outputNames.map((name) => [name, null]));
    return {
      inputNames: session.inputMetadata.map((m) => m.name),
      outputNames,
      run: async (feeds) => session.run(feeds, fetches, {}),
      release: async () => session.dispose(),
    };
  };
  return { Tensor: ort.Tensor, InferenceSession: { create } };
}

let direct: Promise<OrtModule> | undefined;

/** The onnxruntime engine on onnxruntime-node's CPU provider (`runtime` `ort-cpu`). */
export async function nodeOrtEngine(options: Omit<OrtSessionOptions, 'runtime'> = {}): Promise<Engine> {
  direct ??= directOnnxruntimeNode();
  return ortEngine(await direct, { ...options, runtime: 'ort-cpu' });
}
