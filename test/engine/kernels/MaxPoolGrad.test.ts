import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { maxPoolGradConfig, useWasmTrainingKernels } from '../../../src/engine/tfjs/kernels/index.ts';
import { assertRelErrBelow, compareBackends, normals, setUpWasm, type Shape4 } from './compare-backends.ts';

type PoolPad = 'valid' | 'same' | number;

/** dL/dx for L = sum(maxPool(x) * dy), with x from `values` and dy seeded from `seed`. */
function poolGradient(
  xShape: Shape4,
  values: Float32Array,
  size: number | [number, number],
  stride: number | [number, number],
  pad: PoolPad,
  seed: number,
): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(values, xShape);
    const outShape = tf.maxPool(x, size, stride, pad).shape;
    const dy = tf.tensor(normals(tf.util.sizeFromShape(outShape), seed), outShape);
    return tf
      .grad((v: tf.Tensor) =>
        tf
          .maxPool(v as tf.Tensor4D, size, stride, pad)
          .mul(dy)
          .sum(),
      )(x)
      .dataSync() as Float32Array;
  });
}

async function assertWasmMatchesCpu(
  xShape: Shape4,
  size: number | [number, number],
  stride: number | [number, number],
  pad: PoolPad,
  seed: number,
  values = normals(tf.util.sizeFromShape(xShape), seed),
): Promise<void> {
  const { cpu, wasm } = await compareBackends(() => poolGradient(xShape, values, size, stride, pad, seed + 1));
  assertRelErrBelow(wasm, cpu, 1e-6, `for x [${xShape}], size ${size}, stride ${stride}, pad ${pad}`);
}

before(setUpWasm);

describe('MaxPoolGrad on wasm', () => {
  it("replaces tfjs-wasm's kernel, and registering again changes nothing", () => {
    assert.equal(tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc, maxPoolGradConfig.kernelFunc);
    useWasmTrainingKernels();
    assert.equal(tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc, maxPoolGradConfig.kernelFunc);
  });

  it('pool gradient on wasm equals cpu for 2x2 windows, stride 2, valid padding', async () => {
    await assertWasmMatchesCpu([2, 8, 6, 3], 2, 2, 'valid', 51);
  });

  it('pool gradient on wasm equals cpu for 2x2 windows with same padding on odd sizes (LeNet ceil mode)', async () => {
    await assertWasmMatchesCpu([3, 15, 17, 5], 2, 2, 'same', 52);
  });

  it('pool gradient on wasm equals cpu for overlapping 3x3 windows, stride 2, same padding (AlexNet)', async () => {
    await assertWasmMatchesCpu([2, 16, 16, 7], 3, 2, 'same', 53);
  });

  it('pool gradient on wasm equals cpu for numeric padding and unequal windows and strides', async () => {
    await assertWasmMatchesCpu([2, 9, 11, 4], [3, 2], [1, 2], 1, 54);
  });

  it('pool gradient on wasm equals cpu where windows hold ties: the first maximum takes the gradient', async () => {
    // Few distinct values (as after a relu), so most windows hold several equal maxima.
    const xShape: Shape4 = [2, 10, 10, 3];
    const values = normals(tf.util.sizeFromShape(xShape), 55).map((v) => Math.max(0, Math.round(v)));
    await assertWasmMatchesCpu(xShape, 3, 2, 'same', 56, values);
  });
});
