import * as tf from '@tensorflow/tfjs';
import type { Pad, Shape4 } from './compare-backends.ts';

/*
 * Fixtures for the depthwise gradient kernels with dilations above 1. tfjs's gradients refuse those, so the tests
 * call the kernels directly, and cpu's kernels ignore the dilation, so the reference is cpu on the equivalent
 * undilated filter: size (k-1)*d+1, with zeros between the taps.
 */

/** A depthwise conv layer with dilations. */
export interface DilatedCase {
  x: Shape4;
  /** [KH, KW, C, channel multiplier] */
  filter: Shape4;
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
}

/** Dilated layers for both depthwise gradient kernels: even and uneven dilations, 'same' and explicit padding. */
export const DILATED_CASES: readonly DilatedCase[] = [
  { x: [2, 11, 10, 3], filter: [3, 3, 3, 2], strides: [1, 1], dilations: [2, 2], pad: 'same' },
  {
    x: [2, 12, 13, 5],
    filter: [3, 2, 5, 1],
    strides: [2, 2],
    dilations: [2, 3],
    pad: [
      [0, 0],
      [2, 1],
      [1, 3],
      [0, 0],
    ],
  },
];

/** The output shape of the depthwise conv a dilated case describes, which is the shape of its dy. */
export function depthwiseOutShape(c: DilatedCase): Shape4 {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad, undefined, true).outShape;
}

/**
 * The undilated equivalent of a dilated filter: its `shape`, and for each element of the dilated filter, in order,
 * the index where it lands in the undilated one (`taps`); every other element of that filter is zero.
 */
export function zeroStuffed(filter: Shape4, dilations: [number, number]): { shape: Shape4; taps: Int32Array } {
  const [KH, KW, C, m] = filter;
  const [dh, dw] = dilations;
  const shape: Shape4 = [(KH - 1) * dh + 1, (KW - 1) * dw + 1, C, m];
  const taps = new Int32Array(tf.util.sizeFromShape(filter));
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let j = 0; j < C * m; j++) taps[(kh * KW + kw) * C * m + j] = (kh * dh * shape[1] + kw * dw) * C * m + j;
    }
  }
  return { shape, taps };
}
