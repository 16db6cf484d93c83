import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../src/common/rng.ts';
import { assertRelErrBelow, assertUnsupportedAttr, compareBackends, normals, onWasmWithoutLeaks, setUpWasm } from './compare-backends.ts';

/** `size` ids drawn from [lo, hi). */
function ids(size: number, lo: number, hi: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: size }, () => lo + rng.int(hi - lo));
}

/** Checks that `fn` gives the same shape on wasm as on cpu, and values within 1e-4 relative error. */
async function assertWasmMatchesCpu(fn: () => { values: ArrayLike<number>; shape: number[] }): Promise<void> {
  const { cpu: expected, wasm: actual } = await compareBackends(fn);
  assert.deepEqual(actual.shape, expected.shape);
  assertRelErrBelow(actual.values, expected.values, 1e-4);
}

function segmentSum(x: Float32Array | Int32Array, xShape: number[], segmentIds: Int32Array, numSegments: number) {
  return tf.tidy(() => {
    const out = tf.unsortedSegmentSum(tf.tensor(x, xShape), tf.tensor1d(segmentIds, 'int32'), numSegments);
    return { values: out.dataSync(), shape: out.shape, dtype: out.dtype };
  });
}

before(setUpWasm);

describe('UnsortedSegmentSum on wasm', () => {
  it('segment sums of a vector on wasm equal cpu', async () => {
    const x = normals(40, 91);
    const s = ids(40, 0, 7, 92);
    await assertWasmMatchesCpu(() => segmentSum(x, [40], s, 7));
  });

  it('segment sums of matrix rows on wasm equal cpu, including segments no row maps to', async () => {
    const x = normals(50 * 16, 93);
    const s = ids(50, 0, 10, 94);
    await assertWasmMatchesCpu(() => segmentSum(x, [50, 16], s, 12));
  });

  it('segment sums of a rank-4 tensor along its first axis on wasm equal cpu', async () => {
    const x = normals(6 * 3 * 4 * 5, 95);
    const s = Int32Array.of(2, 0, 2, 1, 0, 2);
    await assertWasmMatchesCpu(() => segmentSum(x, [6, 3, 4, 5], s, 3));
  });

  it('drops negative and too-large segment ids, as cpu does', async () => {
    const x = normals(30 * 3, 96);
    const s = ids(30, -3, 8, 97);
    await assertWasmMatchesCpu(() => segmentSum(x, [30, 3], s, 5));
  });

  it('sums int32 values exactly and returns int32 (cpu returns the same values as float32)', async () => {
    const x = ids(20 * 2, -50, 50, 98);
    const s = ids(20, 0, 4, 99);
    const { cpu: expected, wasm: actual } = await compareBackends(() => segmentSum(x, [20, 2], s, 4));
    assert.equal(actual.dtype, 'int32');
    assert.deepEqual(Array.from(actual.values), Array.from(expected.values));
  });

  it('sums over a rank-2 block of segment ids that prefixes x, as TensorFlow defines it', async () => {
    const x = normals(3 * 4 * 2, 100);
    const s = ids(12, 0, 3, 101);
    const expected = new Float32Array(3 * 2);
    for (let i = 0; i < 12; i++) for (let j = 0; j < 2; j++) expected[s[i] * 2 + j] += x[i * 2 + j];
    const actual = await onWasmWithoutLeaks(() =>
      tf.tidy(() => {
        // The op's typings say 1-D, but kernels receive whatever tensor is passed; TensorFlow defines rank > 1.
        const blockIds = tf.tensor2d(s, [3, 4], 'int32') as unknown as tf.Tensor1D;
        const out = tf.unsortedSegmentSum(tf.tensor3d(x, [3, 4, 2]), blockIds, 3);
        return { values: out.dataSync(), shape: out.shape };
      }),
    );
    assert.deepEqual(actual.shape, [3, 2]);
    assertRelErrBelow(actual.values, expected, 1e-6);
  });

  it('gather gradient (which runs through UnsortedSegmentSum) on wasm equals cpu on axis 0 and axis 1', async () => {
    const params = normals(9 * 6, 102);
    for (const axis of [0, 1]) {
      const idx = ids(15, 0, axis === 0 ? 9 : 6, 103 + axis);
      const upstream = normals(axis === 0 ? 15 * 6 : 9 * 15, 105 + axis);
      const dyShape = axis === 0 ? [15, 6] : [9, 15];
      await assertWasmMatchesCpu(() =>
        tf.tidy(() => {
          const p = tf.tensor2d(params, [9, 6]);
          const dy = tf.tensor(upstream, dyShape);
          const g = tf.grad((q: tf.Tensor) => tf.gather(q, tf.tensor1d(idx, 'int32'), axis).mul(dy).sum())(p);
          return { values: g.dataSync(), shape: g.shape };
        }),
      );
    }
  });

  it('rejects segment ids whose shape is not a prefix of x with an error that quotes both shapes', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([4, 3]);
    const s = tf.tensor1d([0, 1, 0], 'int32');
    assertUnsupportedAttr(() => tf.unsortedSegmentSum(x, s, 2), /\[3\].*prefix.*\[4,3\]/);
    tf.dispose([x, s]);
  });
});
