import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { unsupportedAttrErrors } from './unsupported-attr.ts';
import { heapF32, wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * One Adam step for one variable in a single pass, where tfjs's AdamOptimizer runs fourteen elementwise ops (each
 * a kernel call with its own allocation and bookkeeping):
 *
 *   m' = β1·m + (1−β1)·g        v' = β2·v + (1−β2)·g²
 *   w' = w − lr · (m' / (1−β1ᵗ)) / (√(v' / (1−β2ᵗ)) + ε)
 *
 * with β1ᵗ, β2ᵗ read from the optimiser's accumulator scalars. Every intermediate is rounded to float32 in the
 * order tfjs's ops round it, so the result matches tfjs's Adam to float32 rounding.
 */

/** Name of the fused Adam kernel (not a tfjs kernel: branchy's optimiser runs it where it is registered). */
export const AdamUpdate = 'BranchyAdamUpdate';

/** Attributes of `AdamUpdate`. */
export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  learningRate: number;
  epsilon: number;
}

const { offsetF32 } = wasmKernelAccess(AdamUpdate);
const unsupported = unsupportedAttrErrors(AdamUpdate);
const f32 = Math.fround;

function adamUpdate({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo[] {
  const backend = anyBackend as WasmBackend;
  const { value, m, v, gradient, accBeta1, accBeta2 } = inputs as Record<string, TensorInfo | undefined>;
  if (value === undefined || m === undefined || v === undefined || gradient === undefined || accBeta1 === undefined || accBeta2 === undefined) {
    throw unsupported('inputs must be value, m, v, gradient, accBeta1 and accBeta2.');
  }
  const size = value.shape.reduce((a, b) => a * b, 1);
  for (const t of [value, m, v, gradient, accBeta1, accBeta2]) {
    if (t.dtype !== 'float32') throw unsupported(`every input must be float32; one is ${t.dtype}.`);
  }
  for (const t of [m, v, gradient]) {
    if (t.shape.reduce((a, b) => a * b, 1) !== size) throw unsupported(`m, v and gradient must have the value's shape [${value.shape}]; got [${t.shape}].`);
  }
  const { beta1, beta2, learningRate, epsilon } = attrs as unknown as AdamUpdateAttrs;
  const outValue = backend.makeOutput(value.shape, 'float32');
  const outM = backend.makeOutput(value.shape, 'float32');
  const outV = backend.makeOutput(value.shape, 'float32');
  const heap = heapF32(backend); // after the allocations, which may grow the heap
  const b1 = f32(beta1);
  const b2 = f32(beta2);
  const oneMinusB1 = f32(1 - beta1);
  const oneMinusB2 = f32(1 - beta2);
  const correction1 = f32(1 - heap[offsetF32(backend, accBeta1)]);
  const correction2 = f32(1 - heap[offsetF32(backend, accBeta2)]);
  const step = f32(-learningRate);
  const eps = f32(epsilon);
  const w = offsetF32(backend, value);
  const m0 = offsetF32(backend, m);
  const v0 = offsetF32(backend, v);
  const g0 = offsetF32(backend, gradient);
  const w1 = offsetF32(backend, outValue);
  const m1 = offsetF32(backend, outM);
  const v1 = offsetF32(backend, outV);
  for (let i = 0; i < size; i++) {
    const g = heap[g0 + i];
    const mi = f32(f32(heap[m0 + i] * b1) + f32(g * oneMinusB1));
    const vi = f32(f32(heap[v0 + i] * b2) + f32(f32(g * g) * oneMinusB2));
    heap[m1 + i] = mi;
    heap[v1 + i] = vi;
    const denominator = f32(f32(Math.sqrt(f32(vi / correction2))) + eps);
    heap[w1 + i] = f32(f32(f32(f32(mi / correction1) / denominator) * step) + heap[w + i]);
  }
  return [outValue, outM, outV];
}

/** `AdamUpdate` for the wasm backend: outputs the variable's new value, first moment and second moment. */
export const adamUpdateConfig: KernelConfig = {
  kernelName: AdamUpdate,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as KernelFunc,
};
