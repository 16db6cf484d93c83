import { backend_util, MaxPoolGrad, util, type KernelConfig, type KernelFunc, type MaxPoolGradAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import { unsupportedAttrErrors } from './unsupported-attr.ts';
import { heapF32, wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * Gradient of max pooling on the wasm backend: each dy value goes to the first maximum of its window in x (scan
 * order rows, then columns; padding never wins), as tfjs-cpu does. One pass over dy, scanning each window of x
 * once; tfjs-wasm's own MaxPoolGrad walks the windows around every dx pixel and measured 5x slower on LeNet's pools.
 */

const { offsetF32 } = wasmKernelAccess(MaxPoolGrad);
const unsupported = unsupportedAttrErrors(MaxPoolGrad);

/** Offset in the image at `xImage` of the first pixel of channel c in the window equal to `target`, or -1. */
function firstEqual(
  heap: Float32Array,
  xImage: number,
  target: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  W: number,
  C: number,
  c: number,
): number {
  for (let r = r0; r < r1; r++) {
    for (let p = (r * W + c0) * C + c, end = (r * W + c1) * C; p < end; p += C) {
      if (heap[xImage + p] === target) return p;
    }
  }
  return -1;
}

/** Offset in the image at `xImage` of the first maximum of channel c in the window, or -1 if nothing beats -∞. */
function firstMaximum(heap: Float32Array, xImage: number, r0: number, r1: number, c0: number, c1: number, W: number, C: number, c: number): number {
  let best = -Infinity;
  let at = -1;
  for (let r = r0; r < r1; r++) {
    for (let p = (r * W + c0) * C + c, end = (r * W + c1) * C; p < end; p += C) {
      const v = heap[xImage + p];
      if (v > best) {
        best = v;
        at = p;
      }
    }
  }
  return at;
}

function maxPoolGrad({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const { dy, input, output } = inputs as { dy?: TensorInfo; input?: TensorInfo; output?: TensorInfo };
  if (dy === undefined || input === undefined) throw unsupported('inputs must be dy and input.');
  if (dy.dtype !== 'float32' || input.dtype !== 'float32') throw unsupported(`dy and input are ${dy.dtype} and ${input.dtype}; only float32 is supported.`);
  if (input.shape.length !== 4 || dy.shape.length !== 4) throw unsupported(`dy and input must be rank 4; got [${dy.shape}] and [${input.shape}].`);
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
  const { effectiveFilterHeight: KH, effectiveFilterWidth: KW } = info;
  const { top: pt, left: pl } = info.padInfo;
  if (dy.shape[0] !== B || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== C) {
    throw unsupported(`dy is [${dy.shape}]; the pool of [${input.shape}] gives [${B}, ${OH}, ${OW}, ${C}].`);
  }

  const dx = backend.makeOutput(input.shape, 'float32');
  const heap = heapF32(backend); // after the allocation, which may grow the heap
  const dyOff = offsetF32(backend, dy);
  const xOff = offsetF32(backend, input);
  const dxOff = offsetF32(backend, dx);
  heap.fill(0, dxOff, dxOff + B * H * W * C);
  let g = dyOff;
  // With the pool's output at hand, the first pixel of a window equal to it is the first maximum: the scan stops
  // there, and its one rarely taken branch predicts far better than a running comparison. Only with string padding:
  // tfjs-wasm's MaxPool with numeric padding and unequal windows or strides writes values of other windows.
  const trustOutput = output !== undefined && output.dtype === 'float32' && util.arraysEqual(output.shape, dy.shape) && typeof pad === 'string';
  const yOff = trustOutput ? offsetF32(backend, output) : -1;
  for (let b = 0; b < B; b++) {
    const xImage = xOff + b * H * W * C;
    const dxImage = dxOff + b * H * W * C;
    for (let oh = 0; oh < OH; oh++) {
      const r0 = Math.max(0, oh * sh - pt);
      const r1 = Math.min(H, oh * sh - pt + KH);
      for (let ow = 0; ow < OW; ow++) {
        const c0 = Math.max(0, ow * sw - pl);
        const c1 = Math.min(W, ow * sw - pl + KW);
        for (let c = 0; c < C; c++, g++) {
          let at = yOff >= 0 ? firstEqual(heap, xImage, heap[yOff + g - dyOff], r0, r1, c0, c1, W, C, c) : -1;
          // (No pixel equals the output only where the window holds a NaN.)
          if (at < 0) at = firstMaximum(heap, xImage, r0, r1, c0, c1, W, C, c);
          if (at >= 0) heap[dxImage + at] += heap[g];
        }
      }
    }
  }
  return dx;
}

/**
 * `MaxPoolGrad` (the gradient of maxPool) for the wasm backend, replacing tfjs-wasm 4.22's kernel with one that
 * scans each window once. NHWC, float32, every padding form; ties go to the first maximum, as on tfjs-cpu.
 */
export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as KernelFunc,
};
