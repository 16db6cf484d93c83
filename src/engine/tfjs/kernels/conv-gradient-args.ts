import { backend_util, type Conv2DBackpropFilterAttrs, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BranchyArgumentError } from '../../../common/errors.ts';

/** The padding forms of tfjs convs (every conv kernel's attrs use the same union). */
export type Padding = Conv2DBackpropFilterAttrs['pad'];

/** An NHWC tensor shape, or a filter shape [KH, KW, input channels, output channels or multiplier]. */
export type Shape4 = [number, number, number, number];

/**
 * Checks what every conv gradient kernel requires alike and returns its operands: the inputs named `names`, then
 * the shape attr `shapeAttr` (the shape of the operand whose gradient the kernel computes). Refuses missing inputs,
 * a data format other than NHWC, dtypes other than float32 and ranks other than 4.
 */
export function convGradientOperands(
  unsupported: (message: string) => BranchyArgumentError,
  inputs: NamedTensorInfoMap,
  names: readonly [string, string],
  attrs: NamedAttrMap | undefined,
  shapeAttr: string,
): [TensorInfo, TensorInfo, Shape4] {
  const [aName, bName] = names;
  const a = inputs[aName];
  const b = inputs[bName];
  // Depthwise ops never pass a data format (depthwise convs are NHWC-only in tfjs); it is read anyway, to refuse
  // one rather than silently read or write NCHW data as NHWC.
  const { [shapeAttr]: shapeAttrValue, dataFormat } = attrs as NamedAttrMap;
  const shape = shapeAttrValue as number[] | undefined;
  if (a === undefined || b === undefined) throw unsupported(`inputs must be ${aName} and ${bName}.`);
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw unsupported(`dataFormat is ${JSON.stringify(dataFormat)}; only 'NHWC' is supported.`);
  }
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw unsupported(`${aName} and ${bName} are ${a.dtype} and ${b.dtype}; only float32 is supported.`);
  }
  if (a.shape.length !== 4 || b.shape.length !== 4 || shape?.length !== 4) {
    throw unsupported(`${aName}, ${bName} and ${shapeAttr} must be rank 4; got [${a.shape}], [${b.shape}] and [${shape}].`);
  }
  return [a, b, shape as Shape4];
}

/** The attrs that place a conv's window; absent dilations mean 1 (conv2d's gradient kernels have none). */
export interface ConvWindowAttrs {
  strides: [number, number] | number;
  dilations?: [number, number] | number;
  pad: Padding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Strides, dilations and top/left padding of a conv, in the short names the kernels' index arithmetic uses. */
export interface ConvWindow {
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** Rows of padding above the input. */
  pt: number;
  /** Columns of padding left of the input. */
  pl: number;
}

/**
 * The window of an NHWC conv of `inputShape` with `filterShape`. tfjs resolves padding and rounding itself, so the
 * gradient kernels place their taps exactly where the forward conv did.
 */
export function convWindow(inputShape: Shape4, filterShape: Shape4, attrs: ConvWindowAttrs, depthwise: boolean): ConvWindow {
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  return {
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    pt: info.padInfo.top,
    pl: info.padInfo.left,
  };
}
