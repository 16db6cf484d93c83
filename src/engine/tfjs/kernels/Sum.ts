import { backend_util, util, type KernelFunc, type SumAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import { heapF32, wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * tfjs-wasm 4.22 sums over axes that are not the innermost by transposing the whole tensor first (a full copy),
 * then summing rows. Training sums over the leading axes all the time: every bias gradient of a conv (dy summed over
 * batch, height and width) and of a dense layer (over the batch). Here such a sum is one pass that adds each row
 * of the trailing axes into the result, in double precision as tfjs-cpu does. Every other sum is left to tfjs-wasm.
 */

const { offsetF32 } = wasmKernelAccess('Sum');

/** Wraps tfjs-wasm's own Sum `original` so float32 sums over leading axes run in one pass without a transpose. */
export function sumOverLeadingAxes(original: KernelFunc): KernelFunc {
  return (args) => {
    const backend = args.backend as WasmBackend;
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const rank = x.shape.length;
    const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || !leading) return original(args);
    const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
    const cols = util.sizeFromShape(x.shape.slice(axes.length));
    const outShape = keepDims ? backend_util.expandShapeToKeepDim(x.shape.slice(axes.length), axes) : x.shape.slice(axes.length);
    const out = backend.makeOutput(outShape, 'float32');
    const heap = heapF32(backend); // after the allocation, which may grow the heap
    const acc = new Float64Array(cols);
    for (let r = 0, at = offsetF32(backend, x); r < rows; r++, at += cols) {
      for (let c = 0; c < cols; c++) acc[c] += heap[at + c];
    }
    heap.set(acc, offsetF32(backend, out));
    return out;
  };
}
