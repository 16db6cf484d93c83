import { sumOutType, UnsortedSegmentSum, util, type KernelConfig, type KernelFunc, type TensorInfo, type UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core';
import { unsupportedAttrErrors } from './unsupported-attr.ts';
import type { WasmBackend } from './wasm-backend.ts';

/*
 * out[s, ...] = sum of x[i, ...] over i with segmentIds[i] = s, for segment ids that are a prefix of x's shape.
 * Ids outside [0, numSegments) are dropped, as in TensorFlow and tfjs-cpu. One pass over x, summing straight on
 * the wasm heap: tfjs-cpu instead builds a mask, a product and a sum per segment, which is O(numSegments * size).
 */

const unsupported = unsupportedAttrErrors(UnsortedSegmentSum);

function unsortedSegmentSum({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const { x, segmentIds } = inputs as { x?: TensorInfo; segmentIds?: TensorInfo };
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  if (x === undefined || segmentIds === undefined) throw unsupported('inputs must be x and segmentIds.');
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw unsupported(`numSegments is ${JSON.stringify(numSegments)}; expected a non-negative integer.`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    throw unsupported(`x is ${x.dtype}; expected float32, int32 or bool.`);
  }
  if (segmentIds.dtype !== 'int32') throw unsupported(`segmentIds is ${segmentIds.dtype}; expected int32.`);
  const idRank = segmentIds.shape.length;
  if (idRank > x.shape.length || segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw unsupported(`segmentIds shape [${segmentIds.shape}] must be a prefix of x's shape [${x.shape}].`);
  }
  const innerShape = x.shape.slice(idRank);
  const inner = util.sizeFromShape(innerShape);
  const rows = util.sizeFromShape(segmentIds.shape);
  // Summing ints (and bools) gives int32, as tfjs's sum does; tfjs-cpu's mask-multiply returns float32 here.
  const outDtype = sumOutType(x.dtype);

  const out = backend.makeOutput([numSegments, ...innerShape], outDtype);
  const ids = backend.typedArrayFromHeap(segmentIds); // after makeOutput, which may grow the heap
  const xs = backend.typedArrayFromHeap(x);
  const sums = backend.typedArrayFromHeap(out);
  sums.fill(0);
  for (let i = 0; i < rows; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) sums[dst + j] += xs[src + j];
  }
  return out;
}

/**
 * `UnsortedSegmentSum` for the wasm backend, which tfjs 4.22 lacks; the gradient of `tf.gather` runs through it.
 * Segment ids must be int32 and shaped like a prefix of x's shape; ids outside [0, numSegments) are dropped.
 */
export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as KernelFunc,
};
