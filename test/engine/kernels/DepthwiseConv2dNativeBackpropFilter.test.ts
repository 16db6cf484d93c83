import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../../../src/common/rng.ts';
import { registerWasmGradientKernels } from '../../../src/engine/tfjs/kernels/index.ts';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

function normals(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: size }, () => rng.normal());
}

/** max |a - b| / max(1, max |b|) */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'result sizes differ');
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Runs `fn` on the wasm backend and checks it leaves no tensor and no backend data behind. */
async function onWasmWithoutLeaks<T>(fn: () => T): Promise<T> {
  await tf.setBackend('wasm');
  const tensors = tf.memory().numTensors;
  const dataIds = tf.engine().backend.numDataIds();
  const result = fn();
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(tf.engine().backend.numDataIds(), dataIds, 'wasm data leaked');
  return result;
}

interface Case {
  x: Shape4;
  /** [KH, KW, C, channel multiplier] */
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
}

/** dL/dfilter for L = sum(depthwiseConv2d(x, filter) * dy), through the public op and tfjs's gradient. */
function filterGradient(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(normals(tf.util.sizeFromShape(c.x), seed), c.x);
    const filter = tf.tensor4d(normals(tf.util.sizeFromShape(c.filter), seed + 1), c.filter);
    const outShape = tf.depthwiseConv2d(x, filter, c.strides, c.pad).shape;
    const dy = tf.tensor(normals(tf.util.sizeFromShape(outShape), seed + 2), outShape);
    const grad = tf.grad((f: tf.Tensor) => tf.depthwiseConv2d(x, f as tf.Tensor4D, c.strides, c.pad).mul(dy).sum())(filter);
    return grad.dataSync() as Float32Array;
  });
}

async function assertWasmMatchesCpu(c: Case, seed: number): Promise<void> {
  await tf.setBackend('cpu');
  const expected = filterGradient(c, seed);
  const actual = await onWasmWithoutLeaks(() => filterGradient(c, seed));
  const err = relErr(actual, expected);
  assert.ok(err < 1e-4, `relative error ${err} for ${JSON.stringify(c)}`);
}

before(async () => {
  tf.env().set('PROD', true);
  registerWasmGradientKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('DepthwiseConv2dNativeBackpropFilter on wasm', () => {
  it('depthwise filter gradient on wasm equals cpu for stride 1, same padding, 3 channels, 3x3 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 9, 8, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same' }, 31);
  });

  it('depthwise filter gradient on wasm equals cpu for stride 2, same padding, 1 channel, multiplier 2, 5x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [3, 11, 10, 1], filter: [5, 5, 1, 2], strides: 2, pad: 'same' }, 32);
  });

  it('depthwise filter gradient on wasm equals cpu for stride 1, valid padding, 5 channels, multiplier 2', async () => {
    await assertWasmMatchesCpu({ x: [2, 10, 9, 5], filter: [5, 5, 5, 2], strides: 1, pad: 'valid' }, 33);
  });

  it('depthwise filter gradient on wasm equals cpu for stride 2, valid padding that drops the last row and column', async () => {
    await assertWasmMatchesCpu({ x: [2, 10, 12, 16], filter: [3, 3, 16, 1], strides: 2, pad: 'valid' }, 34);
  });

  it('depthwise filter gradient on wasm equals cpu for numeric padding 3 on a 5x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [4, 15, 15, 5], filter: [5, 5, 5, 1], strides: 1, pad: 3 }, 35);
  });

  it('depthwise filter gradient on wasm equals cpu for explicit asymmetric padding, stride 2, multiplier 2', async () => {
    await assertWasmMatchesCpu({ x: [2, 9, 10, 3], filter: [3, 3, 3, 2], strides: [2, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] }, 36);
  });

  it('depthwise filter gradient on wasm equals cpu for a 1x1 kernel with stride 2 and multiplier 2', async () => {
    await assertWasmMatchesCpu({ x: [3, 8, 7, 16], filter: [1, 1, 16, 2], strides: 2, pad: 'valid' }, 37);
  });

  it('depthwise filter gradient on wasm honours dilations (equal to cpu on the zero-stuffed filter)', async () => {
    // tfjs's gradient refuses dilations > 1, so call the kernel; the reference is cpu's gradient for the equivalent
    // undilated filter of size (k-1)*d+1, read at every d-th tap.
    const cases: { x: Shape4; filter: Shape4; strides: [number, number]; dilations: [number, number]; pad: Pad }[] = [
      { x: [2, 11, 10, 3], filter: [3, 3, 3, 2], strides: [1, 1], dilations: [2, 2], pad: 'same' },
      { x: [2, 12, 13, 5], filter: [3, 2, 5, 1], strides: [2, 2], dilations: [2, 3], pad: [[0, 0], [2, 1], [1, 3], [0, 0]] },
    ];
    for (const [n, c] of cases.entries()) {
      const [KH, KW, C, m] = c.filter;
      const [dh, dw] = c.dilations;
      const big: Shape4 = [(KH - 1) * dh + 1, (KW - 1) * dw + 1, C, m];
      const xv = normals(tf.util.sizeFromShape(c.x), 40 + n);
      const outShape = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations, c.pad, undefined, true).outShape;
      const dyv = normals(tf.util.sizeFromShape(outShape), 50 + n);
      const run = (filterShape: Shape4, dilations: [number, number]) => tf.tidy(() => {
        const out = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor4d(xv, c.x), dy: tf.tensor(dyv, outShape) }, {
          strides: c.strides, dilations, pad: c.pad, filterShape,
        }) as tf.Tensor;
        return out.dataSync() as Float32Array;
      });
      await tf.setBackend('cpu');
      const bigGrad = run(big, [1, 1]);
      const expected = new Float32Array(tf.util.sizeFromShape(c.filter));
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          for (let j = 0; j < C * m; j++) expected[(kh * KW + kw) * C * m + j] = bigGrad[(kh * dh * big[1] + kw * dw) * C * m + j];
        }
      }
      const actual = await onWasmWithoutLeaks(() => run(c.filter, c.dilations));
      const err = relErr(actual, expected);
      assert.ok(err < 1e-4, `relative error ${err} for ${JSON.stringify(c)}`);
    }
  });

  it('rejects an NCHW data format with an error that names the value and what is allowed', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 2]);
    assert.throws(
      () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
        strides: 1, dilations: 1, pad: 'same', filterShape: [3, 3, 2, 1], dataFormat: 'NCHW',
      }),
      { name: 'BranchyArgumentError', code: 'KERNEL_UNSUPPORTED_ATTR', message: /"NCHW".*'NHWC'/ },
    );
    tf.dispose([x, dy]);
  });
});
