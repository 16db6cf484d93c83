import { BatchMatMul, Transpose, util, type BatchMatMulAttrs, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * tfjs-wasm 4.22 hands a matrix product to XNNPACK only with no transposes and a batch of 1; with a transposed
 * operand it runs a scalar loop about ten times slower. The gradients of a dense layer are exactly such products
 * (dy @ Wᵀ and xᵀ @ dy), so here a transposed operand is first laid out transposed (a memory copy, O(n²) against
 * the product's O(n³)) and the product runs untransposed. Batched products are left to tfjs-wasm.
 */

const { runWasmKernel } = wasmKernelAccess(BatchMatMul);

/** Wraps tfjs-wasm's own BatchMatMul `original` so single products with transposed operands reach XNNPACK. */
export function batchMatMulWithExplicitTransposes(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, attrs } = args;
    const backend = args.backend as WasmBackend;
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    const single = (t: TensorInfo) => t.shape.length >= 2 && util.sizeFromShape(t.shape.slice(0, -2)) === 1;
    if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32' || !single(a) || !single(b)) {
      return original(args);
    }
    const temps: TensorInfo[] = [];
    const laidOut = (t: TensorInfo, transpose: boolean): TensorInfo => {
      const rows = t.shape[t.shape.length - 2];
      const cols = t.shape[t.shape.length - 1];
      const matrix: TensorInfo = { dataId: t.dataId, shape: [rows, cols], dtype: 'float32' };
      if (!transpose) return matrix;
      const out = runWasmKernel(Transpose, backend, { x: matrix }, { perm: [1, 0] });
      temps.push(out);
      return out;
    };
    try {
      const product = original({
        inputs: { a: laidOut(a, transposeA), b: laidOut(b, transposeB) },
        backend,
        attrs: { transposeA: false, transposeB: false },
      }) as TensorInfo;
      const outer = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
      return { ...product, shape: [...outer, ...product.shape.slice(-2)] };
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}
