import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertRelErrBelow, compareBackends, normals, setUpWasm } from './compare-backends.ts';

/** a @ b with the given transposes, a and b seeded from `seed` and `seed + 1`. */
function product(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean, seed: number): Float32Array {
  return tf.tidy(() => {
    const a = tf.tensor(normals(tf.util.sizeFromShape(aShape), seed), aShape);
    const b = tf.tensor(normals(tf.util.sizeFromShape(bShape), seed + 1), bShape);
    return tf.matMul(a, b, transposeA, transposeB).dataSync() as Float32Array;
  });
}

before(setUpWasm);

describe('BatchMatMul on wasm', () => {
  const cases: [string, number[], number[], boolean, boolean][] = [
    ["a transposed (xᵀ @ dy, a dense layer's weight gradient)", [64, 72], [64, 12], true, false],
    ["b transposed (dy @ Wᵀ, a dense layer's input gradient)", [64, 12], [72, 12], false, true],
    ['both transposed', [13, 7], [9, 13], true, true],
    ['rank 3 with batch 1, a transposed', [1, 20, 6], [1, 20, 5], true, false],
    ['no transposes', [5, 8], [8, 3], false, false],
    ['a batch of 3 with b transposed (left to tfjs-wasm)', [3, 4, 6], [3, 5, 6], false, true],
  ];
  for (const [what, aShape, bShape, ta, tb] of cases) {
    it(`product on wasm equals cpu: ${what}`, async () => {
      const { cpu, wasm } = await compareBackends(() => product(aShape, bShape, ta, tb, 91));
      assertRelErrBelow(wasm, cpu, 1e-5, what);
    });
  }

  it('keeps the shape tfjs gives the product, batch dimension included', async () => {
    await tf.setBackend('wasm');
    const shape = tf.tidy(() => tf.matMul(tf.ones([1, 20, 6]), tf.ones([1, 20, 5]), true, false).shape);
    assert.deepEqual(shape, [1, 6, 5]);
  });
});
