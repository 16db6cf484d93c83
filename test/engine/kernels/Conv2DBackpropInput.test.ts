import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropInputConfig, useWasmTrainingKernels } from '../../../src/engine/tfjs/kernels/index.ts';
import {
  assertRejectsNchw,
  assertRelErrBelow,
  compareBackends,
  convGradient,
  normals,
  setUpWasm,
  worstFiniteDifference,
  type ConvCase,
  type Shape4,
} from './compare-backends.ts';

/** Checks dL/dx of conv2d on wasm against cpu. */
async function assertWasmMatchesCpu(c: ConvCase, seed: number): Promise<void> {
  const { cpu, wasm } = await compareBackends(() => convGradient(tf.conv2d, 'x', c, seed));
  assertRelErrBelow(wasm, cpu, 1e-4, `for ${JSON.stringify(c)}`);
}

before(setUpWasm);

describe('Conv2DBackpropInput on wasm', () => {
  it("replaces tfjs-wasm's kernel, and registering again changes nothing", () => {
    const kernel = tf.getKernel('Conv2DBackpropInput', 'wasm');
    assert.equal(kernel?.kernelFunc, conv2DBackpropInputConfig.kernelFunc);
    useWasmTrainingKernels();
    assert.equal(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc, kernel?.kernelFunc);
  });

  it('input gradient on wasm equals cpu for stride 1, same padding, 3 -> 5 channels, 3x3 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 9, 8, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same' }, 31);
  });

  it('input gradient on wasm equals cpu for numeric padding 3 on a LeNet-like 5x5 layer', async () => {
    await assertWasmMatchesCpu({ x: [4, 15, 15, 5], filter: [5, 5, 5, 10], strides: 1, pad: 3 }, 32);
  });

  it('input gradient on wasm equals cpu for stride 2, same padding, 1 -> 16 channels, 5x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [3, 11, 10, 1], filter: [5, 5, 1, 16], strides: 2, pad: 'same' }, 33);
  });

  it('input gradient on wasm equals cpu for stride 2, valid padding that leaves the last row and column without gradient', async () => {
    await assertWasmMatchesCpu({ x: [2, 10, 12, 16], filter: [3, 3, 16, 4], strides: 2, pad: 'valid' }, 34);
  });

  it('input gradient on wasm equals cpu for numeric padding larger than the kernel reach', async () => {
    // Pad 3 on a 3x3 kernel: the outermost output rows and columns see only padding.
    await assertWasmMatchesCpu({ x: [2, 7, 6, 3], filter: [3, 3, 3, 2], strides: 1, pad: 3 }, 35);
  });

  it('input gradient on wasm equals cpu for explicit asymmetric padding with stride 2', async () => {
    await assertWasmMatchesCpu(
      {
        x: [2, 9, 10, 3],
        filter: [3, 3, 3, 5],
        strides: [2, 2],
        pad: [
          [0, 0],
          [1, 2],
          [0, 1],
          [0, 0],
        ],
      },
      36,
    );
  });

  it('input gradient on wasm equals cpu for a 1x1 kernel with stride 2 (a ResNet projection)', async () => {
    await assertWasmMatchesCpu({ x: [3, 8, 7, 16], filter: [1, 1, 16, 32], strides: 2, pad: 'valid' }, 37);
  });

  it('input gradient on wasm equals cpu for unequal strides [1, 2] and a 1x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 7, 13, 3], filter: [1, 5, 3, 5], strides: [1, 2], pad: 'same' }, 38);
  });

  it('input gradient on wasm matches central finite differences of the conv2d loss', async () => {
    await tf.setBackend('wasm');
    const xShape: Shape4 = [2, 5, 6, 2];
    const fShape: Shape4 = [3, 3, 2, 3];
    const x = normals(tf.util.sizeFromShape(xShape), 39);
    const filter = tf.tensor4d(normals(tf.util.sizeFromShape(fShape), 40), fShape);
    const outShape = tf.conv2d(tf.zeros<tf.Rank.R4>(xShape), filter, 2, 'same').shape;
    const w = tf.tensor(normals(tf.util.sizeFromShape(outShape), 41), outShape);
    const loss = (v: tf.Tensor) =>
      tf
        .conv2d(v as tf.Tensor4D, filter, 2, 'same')
        .mul(w)
        .sum();
    // The loss is linear in x, so a large step has no truncation error and keeps float32 rounding small.
    const worst = worstFiniteDifference(loss, x, xShape, 1);
    tf.dispose([filter, w]);
    assert.ok(worst < 1e-3, `finite-difference mismatch ${worst}`);
  });

  it('rejects NCHW with an error that names the value and what is allowed', async () => {
    await assertRejectsNchw('Conv2DBackpropInput', { dy: [1, 3, 5, 5], filter: [3, 3, 2, 3] }, { strides: 1, pad: 'same', inputShape: [1, 2, 5, 5] });
  });
});
