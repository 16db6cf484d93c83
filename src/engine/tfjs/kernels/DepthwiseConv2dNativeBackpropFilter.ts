import {
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { convGradientOperands, convWindow } from './conv-gradient-args.ts';
import { unsupportedAttrErrors } from './unsupported-attr.ts';
import { heapF32, wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * Filter gradient of a depthwise conv on the wasm backend, as a direct loop over the wasm heap:
 *
 *   dW[kh, kw, c, q] = sum over (b, oh, ow) of x[b, oh*sh + kh*dh - pt, ow*sw + kw*dw - pl, c] * dy[b, oh, ow, c*m + q]
 *
 * Every route through tfjs-wasm's XNNPACK kernels was measured slower: the contraction runs over all output pixels,
 * so as a depthwise conv it needs a kernel of OH x OW taps (no fast XNNPACK path), as a matrix product it is a
 * separate product per channel (BatchMatMul's batched form is a scalar loop) or a C-times larger dense product, and
 * each needs a channel-major transpose of x and dy first. The loop below keeps the sum over a row of output pixels
 * in registers, so the inner step is two loads and a multiply-add.
 */

const { offsetF32 } = wasmKernelAccess(DepthwiseConv2dNativeBackpropFilter);
const unsupported = unsupportedAttrErrors(DepthwiseConv2dNativeBackpropFilter);

function depthwiseConv2dNativeBackpropFilter({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const [x, dy, filterShape] = convGradientOperands(unsupported, inputs, ['x', 'dy'], attrs, 'filterShape');
  const [B, H, W, C] = x.shape;
  const [KH, KW, fC, m] = filterShape;
  // dy's own height and width are authoritative: they are what the forward conv produced.
  const [dB, OH, OW, CM] = dy.shape;
  if (fC !== C || CM !== C * m || dB !== B) {
    throw unsupported(`shapes disagree: x [${x.shape}], dy [${dy.shape}], filterShape [${filterShape}].`);
  }
  const { sh, sw, dh, dw, pt, pl } = convWindow([B, H, W, C], filterShape, attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs, true);

  const out = backend.makeOutput([KH, KW, C, m], 'float32');
  const heap = heapF32(backend); // after makeOutput, which may grow the heap
  const xOff = offsetF32(backend, x);
  const dyOff = offsetF32(backend, dy);
  const acc = new Float64Array(KH * KW * CM);
  const xPixelStep = sw * C;

  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const dyRow = dyOff + (b * OH + oh) * OW * CM;
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh * dh - pt;
        if (ih < 0 || ih >= H) continue;
        const xRow = xOff + (b * H + ih) * W * C;
        for (let kw = 0; kw < KW; kw++) {
          // Output columns whose input column for this tap lies inside x.
          const owMin = Math.max(0, Math.ceil((pl - kw * dw) / sw));
          const owMax = Math.min(OW, Math.floor((W - 1 + pl - kw * dw) / sw) + 1);
          if (owMax <= owMin) continue;
          const accTap = (kh * KW + kw) * CM;
          const xStart = xRow + (owMin * sw + kw * dw - pl) * C;
          const dyStart = dyRow + owMin * CM;
          for (let c = 0; c < C; c++) {
            for (let q = 0; q < m; q++) {
              // Two accumulators break the add dependency chain; V8 does not reassociate float adds itself.
              let s0 = 0;
              let s1 = 0;
              let xi = xStart + c;
              let di = dyStart + c * m + q;
              let ow = owMin;
              for (; ow + 1 < owMax; ow += 2, xi += 2 * xPixelStep, di += 2 * CM) {
                s0 += heap[xi] * heap[di];
                s1 += heap[xi + xPixelStep] * heap[di + CM];
              }
              if (ow < owMax) s0 += heap[xi] * heap[di];
              acc[accTap + c * m + q] += s0 + s1;
            }
          }
        }
      }
    }
  }
  heap.set(acc, offsetF32(backend, out));
  return out;
}

/**
 * `DepthwiseConv2dNativeBackpropFilter` (the filter gradient of depthwiseConv2d) for the wasm backend, which tfjs
 * 4.22 lacks. NHWC only; honours strides, dilations, every padding form and the channel multiplier. With dilations
 * above 1 it computes the true gradient of the dilated conv, where tfjs-cpu's loop ignores the dilation (tfjs's own
 * gradient never asks for dilations above 1).
 */
export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as KernelFunc,
};
