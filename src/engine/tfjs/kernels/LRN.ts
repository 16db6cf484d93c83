import { LRN, LRNGrad, type KernelConfig, type KernelFunc, type LRNAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import { unsupportedAttrErrors } from './unsupported-attr.ts';
import { heapF32, wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * Local response normalisation across channels and its gradient on the wasm backend (NHWC, channels innermost):
 *
 *   N[c] = bias + alpha · Σ x[c']²  over c' in [c − r, c + r] ∩ [0, C)        y[c] = x[c] · N[c]^−β
 *   dx[k] = dy[k] · N[k]^−β − 2αβ · x[k] · Σ dy[o] · y[o] / N[o]  over o in [k − r, k + r] ∩ [0, C)
 *
 * (the window is symmetric, so the o whose window holds k are exactly those in k's window). tfjs-wasm's kernels
 * raise to the power −β once per pair of channels in the gradient and once per element in the forward pass; here
 * the power is taken once per element, through square roots for the usual β = 0.75 and 0.5, and the window sums
 * slide over one pixel's channels at a time.
 */

const lrnAccess = wasmKernelAccess(LRN);
const lrnGradAccess = wasmKernelAccess(LRNGrad);

/** z^−β, through square roots where β allows (a power call costs several times more). */
function inversePower(beta: number): (z: number) => number {
  if (beta === 0.75) {
    return (z) => {
      const s = Math.sqrt(z);
      return 1 / (s * Math.sqrt(s));
    };
  }
  if (beta === 0.5) return (z) => 1 / Math.sqrt(z);
  if (beta === 1) return (z) => 1 / z;
  return (z) => Math.pow(z, -beta);
}

/** Checks the operands and returns the channel count and the element count. */
function lrnOperands(kernelName: string, tensors: (TensorInfo | undefined)[], names: string): { C: number; size: number } {
  const unsupported = unsupportedAttrErrors(kernelName);
  if (tensors.some((t) => t === undefined)) throw unsupported(`inputs must be ${names}.`);
  const [x, ...rest] = tensors as TensorInfo[];
  if (x.shape.length !== 4) throw unsupported(`x must be rank 4; got [${x.shape}].`);
  for (const t of tensors as TensorInfo[]) {
    if (t.dtype !== 'float32') throw unsupported(`${names} must be float32; one is ${t.dtype}.`);
  }
  for (const t of rest) {
    if (t.shape.length !== 4 || t.shape.some((d, i) => d !== x.shape[i])) throw unsupported(`${names} must have one shape; got [${x.shape}] and [${t.shape}].`);
  }
  return { C: x.shape[3], size: x.shape.reduce((a, b) => a * b, 1) };
}

/** N[c] for one pixel's channels starting at `at` in `heap`, into `norm`. */
function fillNorm(heap: Float32Array, at: number, C: number, r: number, bias: number, alpha: number, norm: Float64Array): void {
  // Sliding window sum of squares: add the channel entering on the right, drop the one leaving on the left.
  let sum = 0;
  for (let c = 0; c < Math.min(r, C); c++) sum += heap[at + c] * heap[at + c];
  for (let c = 0; c < C; c++) {
    if (c + r < C) sum += heap[at + c + r] * heap[at + c + r];
    if (c - r - 1 >= 0) sum -= heap[at + c - r - 1] * heap[at + c - r - 1];
    norm[c] = bias + alpha * sum;
  }
}

function lrn({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const { x } = inputs as { x?: TensorInfo };
  const { C, size } = lrnOperands(LRN, [x], 'x');
  const { depthRadius: r, bias, alpha, beta } = attrs as unknown as LRNAttrs;
  const power = inversePower(beta);
  const y = backend.makeOutput(x!.shape, 'float32');
  const heap = heapF32(backend); // after the allocation, which may grow the heap
  const xOff = lrnAccess.offsetF32(backend, x!);
  const yOff = lrnAccess.offsetF32(backend, y);
  const norm = new Float64Array(C);
  for (let p = 0; p < size; p += C) {
    fillNorm(heap, xOff + p, C, r, bias, alpha, norm);
    for (let c = 0; c < C; c++) heap[yOff + p + c] = heap[xOff + p + c] * power(norm[c]);
  }
  return y;
}

function lrnGrad({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const { x, y, dy } = inputs as { x?: TensorInfo; y?: TensorInfo; dy?: TensorInfo };
  const { C, size } = lrnOperands(LRNGrad, [x, y, dy], 'x, y and dy');
  const { depthRadius: r, bias, alpha, beta } = attrs as unknown as LRNAttrs;
  const power = inversePower(beta);
  const dx = backend.makeOutput(x!.shape, 'float32');
  const heap = heapF32(backend); // after the allocation, which may grow the heap
  const xOff = lrnGradAccess.offsetF32(backend, x!);
  const yOff = lrnGradAccess.offsetF32(backend, y!);
  const dyOff = lrnGradAccess.offsetF32(backend, dy!);
  const dxOff = lrnGradAccess.offsetF32(backend, dx);
  const norm = new Float64Array(C);
  const t = new Float64Array(C);
  const scale = -2 * alpha * beta;
  for (let p = 0; p < size; p += C) {
    fillNorm(heap, xOff + p, C, r, bias, alpha, norm);
    for (let o = 0; o < C; o++) t[o] = (heap[dyOff + p + o] * heap[yOff + p + o]) / norm[o];
    let sum = 0;
    for (let o = 0; o < Math.min(r, C); o++) sum += t[o];
    for (let k = 0; k < C; k++) {
      if (k + r < C) sum += t[k + r];
      if (k - r - 1 >= 0) sum -= t[k - r - 1];
      heap[dxOff + p + k] = heap[dyOff + p + k] * power(norm[k]) + scale * heap[xOff + p + k] * sum;
    }
  }
  return dx;
}

/** `LRN` for the wasm backend, replacing tfjs-wasm 4.22's kernel with one that raises to a power once per element. */
export const lrnConfig: KernelConfig = {
  kernelName: LRN,
  backendName: 'wasm',
  kernelFunc: lrn as KernelFunc,
};

/** `LRNGrad` for the wasm backend, replacing tfjs-wasm 4.22's kernel with one that runs in O(C · window) per pixel. */
export const lrnGradConfig: KernelConfig = {
  kernelName: LRNGrad,
  backendName: 'wasm',
  kernelFunc: lrnGrad as KernelFunc,
};
