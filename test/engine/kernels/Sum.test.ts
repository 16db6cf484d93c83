import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertRelErrBelow, compareBackends, normals, setUpWasm } from './compare-backends.ts';

/** sum(x, axis, keepDims) of seeded x: its values and shape. */
function sumOf(
  shape: number[],
  axis: number | number[],
  keepDims: boolean,
  seed: number,
  dtype: 'float32' | 'int32' = 'float32',
): { values: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const values = normals(tf.util.sizeFromShape(shape), seed).map((v) => (dtype === 'int32' ? Math.round(10 * v) : v));
    const s = tf.sum(tf.tensor(values, shape, dtype), axis, keepDims);
    return { values: Float32Array.from(s.dataSync()), shape: s.shape };
  });
}

before(setUpWasm);

describe('Sum on wasm', () => {
  const cases: [string, number[], number | number[], boolean][] = [
    ["over batch, height and width (a conv's bias gradient)", [8, 7, 9, 5], [0, 1, 2], false],
    ["over the batch (a dense layer's bias gradient)", [64, 84], 0, false],
    ['over leading axes given out of order and negative, keeping dims', [3, 4, 5, 6], [1, -4], true],
    ['over the innermost axis (left to tfjs-wasm)', [6, 7], 1, false],
    ['over middle axes (left to tfjs-wasm)', [3, 4, 5, 6], [1, 2], false],
    ['over every axis (left to tfjs-wasm)', [3, 4, 5], [0, 1, 2], false],
  ];
  for (const [what, shape, axis, keepDims] of cases) {
    it(`equals cpu ${what}`, async () => {
      const { cpu, wasm } = await compareBackends(() => sumOf(shape, axis, keepDims, 71));
      assert.deepEqual(wasm.shape, cpu.shape);
      assertRelErrBelow(wasm.values, cpu.values, 1e-5, what);
    });
  }

  it('leaves int32 sums to tfjs-wasm, exact', async () => {
    const { cpu, wasm } = await compareBackends(() => sumOf([4, 3, 2], [0, 1], false, 72, 'int32'));
    assert.deepEqual(wasm, cpu);
  });

  it('gives the bias gradient of a conv on wasm that cpu gives', async () => {
    const gradient = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(normals(2 * 6 * 6 * 3, 73), [2, 6, 6, 3]);
        const filter = tf.tensor4d(normals(3 * 3 * 3 * 4, 74), [3, 3, 3, 4]);
        const w = tf.tensor4d(normals(2 * 6 * 6 * 4, 75), [2, 6, 6, 4]);
        const loss = (b: tf.Tensor) =>
          tf.fused
            .conv2d({ x, filter, strides: 1, pad: 'same', bias: b as tf.Tensor1D })
            .mul(w)
            .sum();
        return tf
          .grad(loss)(tf.zeros([4]))
          .dataSync() as Float32Array;
      });
    const { cpu, wasm } = await compareBackends(gradient);
    assertRelErrBelow(wasm, cpu, 1e-5);
  });
});
