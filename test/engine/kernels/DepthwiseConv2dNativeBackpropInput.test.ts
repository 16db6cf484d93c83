import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  assertRejectsNchw,
  assertRelErrBelow,
  compareBackends,
  convGradient,
  normals,
  onCpu,
  onWasmWithoutLeaks,
  runKernelValues,
  setUpWasm,
  type ConvCase,
  type Shape4,
} from './compare-backends.ts';
import { depthwiseOutShape, DILATED_CASES, zeroStuffed } from './dilated-depthwise.ts';

/** Checks dL/dx of depthwiseConv2d on wasm against cpu. */
async function assertWasmMatchesCpu(c: ConvCase, seed: number): Promise<void> {
  const { cpu, wasm } = await compareBackends(() => convGradient(tf.depthwiseConv2d, 'x', c, seed));
  assertRelErrBelow(wasm, cpu, 1e-4, `for ${JSON.stringify(c)}`);
}

before(setUpWasm);

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  it('depthwise input gradient on wasm equals cpu for stride 1, same padding, 3 channels, 3x3 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 9, 8, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same' }, 61);
  });

  it('depthwise input gradient on wasm equals cpu for stride 2, same padding, 1 channel, multiplier 2, 5x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [3, 11, 10, 1], filter: [5, 5, 1, 2], strides: 2, pad: 'same' }, 62);
  });

  it('depthwise input gradient on wasm equals cpu for stride 1, valid padding, 5 channels, multiplier 2', async () => {
    await assertWasmMatchesCpu({ x: [2, 10, 9, 5], filter: [5, 5, 5, 2], strides: 1, pad: 'valid' }, 63);
  });

  it('depthwise input gradient on wasm equals cpu for stride 2, valid padding that leaves the last row and column without gradient', async () => {
    await assertWasmMatchesCpu({ x: [2, 10, 12, 16], filter: [3, 3, 16, 1], strides: 2, pad: 'valid' }, 64);
  });

  it('depthwise input gradient on wasm equals cpu for numeric padding larger than the kernel reach', async () => {
    // Pad 3 on a 3x3 kernel: the outermost output rows and columns see only padding.
    await assertWasmMatchesCpu({ x: [4, 15, 15, 5], filter: [3, 3, 5, 1], strides: 1, pad: 3 }, 65);
  });

  it('depthwise input gradient on wasm equals cpu for explicit asymmetric padding, stride 2, multiplier 2', async () => {
    await assertWasmMatchesCpu(
      {
        x: [2, 9, 10, 3],
        filter: [3, 3, 3, 2],
        strides: [2, 2],
        pad: [
          [0, 0],
          [1, 2],
          [0, 1],
          [0, 0],
        ],
      },
      66,
    );
  });

  it('depthwise input gradient on wasm equals cpu for a 1x1 kernel with stride 2 and multiplier 2', async () => {
    await assertWasmMatchesCpu({ x: [3, 8, 7, 16], filter: [1, 1, 16, 2], strides: 2, pad: 'valid' }, 67);
  });

  it('depthwise input gradient on wasm equals cpu for unequal strides [2, 1] and a 5x3 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 11, 9, 5], filter: [5, 3, 5, 1], strides: [2, 1], pad: 'same' }, 68);
  });

  it('depthwise input gradient on wasm honours dilations (equal to cpu on the zero-stuffed filter)', async () => {
    // tfjs's gradient refuses dilations > 1, so call the kernel; the reference is cpu's input gradient for the
    // equivalent undilated filter of size (k-1)*d+1 with zeros between the taps.
    for (const [n, c] of DILATED_CASES.entries()) {
      const big = zeroStuffed(c.filter, c.dilations);
      const fv = normals(tf.util.sizeFromShape(c.filter), 70 + n);
      const stuffed = new Float32Array(tf.util.sizeFromShape(big.shape));
      big.taps.forEach((tap, i) => {
        stuffed[tap] = fv[i];
      });
      const outShape = depthwiseOutShape(c);
      const dyv = normals(tf.util.sizeFromShape(outShape), 80 + n);
      const run = (filter: Float32Array, filterShape: Shape4, dilations: [number, number]) =>
        runKernelValues('DepthwiseConv2dNativeBackpropInput', () => ({ dy: tf.tensor(dyv, outShape), filter: tf.tensor4d(filter, filterShape) }), {
          strides: c.strides,
          dilations,
          pad: c.pad,
          inputShape: c.x,
        });
      const expected = await onCpu(() => run(stuffed, big.shape, [1, 1]));
      const actual = await onWasmWithoutLeaks(() => run(fv, c.filter, c.dilations));
      assertRelErrBelow(actual, expected, 1e-4, `for ${JSON.stringify(c)}`);
    }
  });

  it('rejects an NCHW data format with an error that names the value and what is allowed', async () => {
    await assertRejectsNchw(
      'DepthwiseConv2dNativeBackpropInput',
      { dy: [1, 5, 5, 2], filter: [3, 3, 2, 1] },
      {
        strides: 1,
        dilations: 1,
        pad: 'same',
        inputShape: [1, 5, 5, 2],
      },
    );
  });
});
