import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BranchyArgumentError } from '../../../common/errors.ts';

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

type Padding = DepthwiseConv2dNativeBackpropFilterAttrs['pad'];

/** BackendWasm with the Emscripten heap typed (its module type does not resolve under this project's `types`). */
type WasmBackend = BackendWasm & { wasm: { HEAPU8: Uint8Array } };

function offsetF32(backend: WasmBackend, info: TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error('DepthwiseConv2dNativeBackpropFilter on wasm: a tensor has no data on the wasm backend.');
  return data.memoryOffset >>> 2;
}

function unsupported(message: string): BranchyArgumentError {
  return new BranchyArgumentError('KERNEL_UNSUPPORTED_ATTR', `DepthwiseConv2dNativeBackpropFilter on wasm: ${message}`);
}

function depthwiseConv2dNativeBackpropFilter({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const { x, dy } = inputs as { x?: TensorInfo; dy?: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  // The op never passes a data format (depthwise convs are NHWC-only in tfjs); refuse one anyway rather than
  // silently reading NCHW data as NHWC.
  const dataFormat = (attrs as { dataFormat?: unknown }).dataFormat;
  if (x === undefined || dy === undefined) throw unsupported('inputs must be x and dy.');
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw unsupported(`dataFormat is ${JSON.stringify(dataFormat)}; only 'NHWC' is supported.`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw unsupported(`x and dy are ${x.dtype} and ${dy.dtype}; only float32 is supported.`);
  }
  if (x.shape.length !== 4 || dy.shape.length !== 4 || filterShape?.length !== 4) {
    throw unsupported(`x, dy and filterShape must be rank 4; got [${x.shape}], [${dy.shape}] and [${filterShape}].`);
  }
  const [B, H, W, C] = x.shape;
  const [KH, KW, fC, m] = filterShape;
  // dy's own height and width are authoritative: they are what the forward conv produced.
  const [dB, OH, OW, CM] = dy.shape;
  if (fC !== C || CM !== C * m || dB !== B) {
    throw unsupported(`shapes disagree: x [${x.shape}], dy [${dy.shape}], filterShape [${filterShape}].`);
  }
  const info = backend_util.computeConv2DInfo(
    [B, H, W, C], filterShape, strides, dilations ?? 1, pad as Padding, dimRoundingMode, true, 'channelsLast',
  );
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;

  const out = backend.makeOutput([KH, KW, C, m], 'float32');
  const heap = new Float32Array(backend.wasm.HEAPU8.buffer); // after makeOutput, which may grow the heap
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
