import { Conv2D, Conv2DBackpropInput, type Conv2DBackpropInputAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { convGradientOperands, convWindow } from './conv-gradient-args.ts';
import { unsupportedAttrErrors } from './unsupported-attr.ts';
import { heapF32, wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * Input gradient of conv2d on the wasm backend, run as a forward conv so XNNPACK does the arithmetic:
 *
 *   dx[b, ih, iw, c] = sum over (kh, kw, co) of dy[b, oh, ow, co] * W[kh, kw, c, co],  ih = oh*sh + kh - pt
 *
 * dy is scattered into a zero canvas Z (every sh-th row and sw-th column, offset by KH-1-pt and KW-1-pl so the conv
 * needs no padding) and convolved, stride 1, with W flipped in both spatial axes and its channel axes swapped:
 * W'[kh, kw, co, c] = W[KH-1-kh, KW-1-kw, c, co]. A 'valid' conv over Z is then exactly H x W. At stride 1, Z is dy
 * with zero borders, so the conv runs on dy with that padding and no canvas is built. tfjs-wasm's own
 * Conv2DBackpropInput is a scalar loop; on LeNet- and AlexNet-sized layers this is 5-10x faster (with stride 2,
 * three quarters of the canvas are inserted zeros, and it still wins).
 */

const { offsetF32, runWasmKernel } = wasmKernelAccess(Conv2DBackpropInput);
const unsupported = unsupportedAttrErrors(Conv2DBackpropInput);

/** Writes W'[kh, kw, co, c] = W[KH-1-kh, KW-1-kw, c, co] into `flipped`. */
function flipFilter(backend: WasmBackend, filter: TensorInfo, flipped: TensorInfo): void {
  const [KH, KW, C, CO] = filter.shape;
  const heap = heapF32(backend);
  const fOff = offsetF32(backend, filter);
  const ffOff = offsetF32(backend, flipped);
  const taps = KH * KW;
  for (let t = 0; t < taps; t++) {
    const src = fOff + t * C * CO;
    const dst = ffOff + (taps - 1 - t) * CO * C;
    for (let c = 0; c < C; c++) {
      for (let co = 0; co < CO; co++) heap[dst + co * C + c] = heap[src + c * CO + co];
    }
  }
}

function conv2DBackpropInput({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const [dy, filter, inputShape] = convGradientOperands(unsupported, inputs, ['dy', 'filter'], attrs, 'inputShape');
  const { strides, pad, dimRoundingMode } = attrs as unknown as Conv2DBackpropInputAttrs;
  const [B, H, W, C] = inputShape;
  const [KH, KW, fC, CO] = filter.shape;
  // dy's own height and width are authoritative: they are what the forward conv produced.
  const [dB, OH, OW, dCO] = dy.shape;
  if (fC !== C || dCO !== CO || dB !== B) {
    throw unsupported(`shapes disagree: inputShape [${inputShape}], dy [${dy.shape}], filter [${filter.shape}].`);
  }
  const { sh, sw, pt, pl } = convWindow(inputShape, [KH, KW, C, CO], { strides, pad, dimRoundingMode }, false);
  const ZH = H + KH - 1;
  const ZW = W + KW - 1;
  // Z row u holds dy row oh where u = oh*sh + KH-1 - pt; likewise for columns.
  const eh = KH - 1 - pt;
  const ew = KW - 1 - pl;

  const temps: TensorInfo[] = [];
  try {
    const flipped = backend.makeOutput([KH, KW, CO, C], 'float32');
    temps.push(flipped);
    flipFilter(backend, filter, flipped);
    // At stride 1 the canvas is dy with borders of zeros: the conv pads dy itself instead, copying nothing.
    const padBottom = ZH - OH - eh;
    const padRight = ZW - OW - ew;
    if (sh === 1 && sw === 1 && eh >= 0 && ew >= 0 && padBottom >= 0 && padRight >= 0) {
      return runWasmKernel(
        Conv2D,
        backend,
        { x: dy, filter: flipped },
        {
          strides: [1, 1],
          dilations: [1, 1],
          pad: [
            [0, 0],
            [eh, padBottom],
            [ew, padRight],
            [0, 0],
          ],
          dataFormat: 'NHWC',
        },
      );
    }
    const canvas = backend.makeOutput([B, ZH, ZW, CO], 'float32');
    temps.push(canvas);
    const heap = heapF32(backend); // after the allocations, which may grow the heap
    const zOff = offsetF32(backend, canvas);
    const dyOff = offsetF32(backend, dy);
    heap.fill(0, zOff, zOff + B * ZH * ZW * CO);
    // Only rows and columns that land inside the canvas are copied (the others meet no input pixel).
    const owMin = Math.max(0, Math.ceil(-ew / sw));
    const owMax = Math.min(OW, Math.floor((ZW - 1 - ew) / sw) + 1);
    for (let b = 0; b < B && owMax > owMin; b++) {
      for (let oh = 0; oh < OH; oh++) {
        const u = oh * sh + eh;
        if (u < 0 || u >= ZH) continue;
        const src = dyOff + ((b * OH + oh) * OW + owMin) * CO;
        const dst = zOff + ((b * ZH + u) * ZW + owMin * sw + ew) * CO;
        if (sw === 1) {
          heap.copyWithin(dst, src, src + (owMax - owMin) * CO);
        } else {
          for (let ow = owMin, s = src, d = dst; ow < owMax; ow++, s += CO, d += sw * CO) {
            for (let j = 0; j < CO; j++) heap[d + j] = heap[s + j];
          }
        }
      }
    }
    // `flipped` is a fresh tensor per call: tfjs-wasm caches XNNPACK conv operators (with packed weights) under the
    // filter's id, and disposing it below drops that operator again.
    return runWasmKernel(
      Conv2D,
      backend,
      { x: canvas, filter: flipped },
      {
        strides: [1, 1],
        dilations: [1, 1],
        pad: 'valid',
        dataFormat: 'NHWC',
      },
    );
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/**
 * `Conv2DBackpropInput` (the input gradient of conv2d) for the wasm backend, replacing tfjs-wasm 4.22's scalar loop
 * with a forward conv through XNNPACK. NHWC only; honours strides and every padding form.
 */
export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as KernelFunc,
};
