import { getKernel, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** BackendWasm with the Emscripten heap typed (its module type does not resolve under this project's `types`). */
export type WasmBackend = BackendWasm & { wasm: { HEAPU8: Uint8Array } };

/**
 * A float32 view of the whole wasm heap. Take a fresh one after every allocation: growing wasm memory replaces
 * the buffer, and a view taken before it reads a detached, empty buffer.
 */
export function heapF32(backend: WasmBackend): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer);
}

/** Heap and kernel access for one kernel's code; its errors name that kernel, since they surface far from it. */
export interface WasmKernelAccess {
  /** Index in `heapF32(backend)` of the first element of a float32 tensor held by the wasm backend. */
  offsetF32(backend: WasmBackend, info: TensorInfo): number;
  /** Runs another kernel of the wasm backend (so XNNPACK does the arithmetic) on tensors already on its heap. */
  runWasmKernel(name: string, backend: WasmBackend, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo;
}

/** Heap and kernel access for the wasm kernel `kernelName`. */
export function wasmKernelAccess(kernelName: string): WasmKernelAccess {
  return {
    offsetF32(backend, info) {
      const data = backend.dataIdMap.get(info.dataId);
      if (data === undefined) throw new Error(`${kernelName} on wasm: a tensor has no data on the wasm backend.`);
      return data.memoryOffset >>> 2;
    },
    runWasmKernel(name, backend, inputs, attrs) {
      const kernel = getKernel(name, 'wasm');
      if (kernel === undefined) throw new Error(`${kernelName} on wasm: the wasm ${name} kernel is not registered.`);
      return kernel.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
    },
  };
}
