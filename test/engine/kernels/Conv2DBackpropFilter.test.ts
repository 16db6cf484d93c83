import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilterTuning, type Conv2DBackpropFilterTuning } from '../../../src/engine/tfjs/kernels/Conv2DBackpropFilter.ts';
import { useWasmTrainingKernels } from '../../../src/engine/tfjs/kernels/index.ts';
import {
  assertRejectsNchw,
  assertRelErrBelow,
  convGradient,
  normals,
  onCpu,
  onWasmWithoutLeaks,
  setUpWasm,
  worstFiniteDifference,
  type ConvCase,
  type Shape4,
} from './compare-backends.ts';

const DEFAULT_TUNING: Conv2DBackpropFilterTuning = { ...conv2DBackpropFilterTuning };

/** Every route the kernel can take, forced through its tuning knobs, so each case checks all of them. */
const ROUTES: Record<string, Partial<Conv2DBackpropFilterTuning>> = {
  'conv of transposes': { convPathMaxDyFloats: Infinity },
  'phase-grid product, padded columns': { convPathMaxDyFloats: 0, columnLayout: 'padded' },
  'phase-grid product, compact columns': { convPathMaxDyFloats: 0, columnLayout: 'compact' },
  'phase-grid product, one image per chunk': { convPathMaxDyFloats: 0, maxColumnFloats: 1 },
};

/** Checks dL/dfilter of conv2d on wasm against cpu, once per route: cpu's result is computed once. */
async function assertWasmMatchesCpu(c: ConvCase, seed: number, routes = ROUTES): Promise<void> {
  const filterGradient = () => convGradient(tf.conv2d, 'filter', c, seed);
  const expected = await onCpu(filterGradient);
  try {
    for (const [route, tuning] of Object.entries(routes)) {
      Object.assign(conv2DBackpropFilterTuning, DEFAULT_TUNING, tuning);
      const actual = await onWasmWithoutLeaks(filterGradient);
      assertRelErrBelow(actual, expected, 1e-4, `via ${route} for ${JSON.stringify(c)}`);
    }
  } finally {
    Object.assign(conv2DBackpropFilterTuning, DEFAULT_TUNING);
  }
}

before(setUpWasm);

describe('Conv2DBackpropFilter on wasm', () => {
  it('is registered for wasm, and registering again changes nothing', () => {
    const kernel = tf.getKernel('Conv2DBackpropFilter', 'wasm');
    assert.ok(kernel);
    useWasmTrainingKernels();
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), kernel);
  });

  it('filter gradient on wasm equals cpu for stride 1, same padding, 3 -> 5 channels, 3x3 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 9, 8, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same' }, 11);
  });

  it('filter gradient on wasm equals cpu for stride 2, same padding, 1 -> 16 channels, 5x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [3, 11, 10, 1], filter: [5, 5, 1, 16], strides: 2, pad: 'same' }, 12);
  });

  it('filter gradient on wasm equals cpu for stride 1, valid padding, 5 -> 3 channels, 5x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 10, 9, 5], filter: [5, 5, 5, 3], strides: 1, pad: 'valid' }, 13);
  });

  it('filter gradient on wasm equals cpu for stride 2, valid padding that drops the last row and column', async () => {
    await assertWasmMatchesCpu({ x: [2, 10, 12, 16], filter: [3, 3, 16, 1], strides: 2, pad: 'valid' }, 14);
  });

  it('filter gradient on wasm equals cpu for numeric padding 3 on a LeNet-like 5x5 layer', async () => {
    await assertWasmMatchesCpu({ x: [4, 15, 15, 5], filter: [5, 5, 5, 10], strides: 1, pad: 3 }, 15);
  });

  it('filter gradient on wasm equals cpu for explicit asymmetric padding with stride 2', async () => {
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
      16,
    );
  });

  it('filter gradient on wasm equals cpu for unequal strides [1, 2] and a 1x5 kernel', async () => {
    await assertWasmMatchesCpu({ x: [2, 7, 13, 3], filter: [1, 5, 3, 5], strides: [1, 2], pad: 'same' }, 17);
  });

  it('filter gradient on wasm equals cpu for a 1x1 kernel with stride 2', async () => {
    await assertWasmMatchesCpu({ x: [3, 8, 7, 16], filter: [1, 1, 16, 5], strides: 2, pad: 'valid' }, 18);
  });

  it('filter gradient on wasm equals cpu on a narrow, deep layer', async () => {
    await assertWasmMatchesCpu({ x: [2, 6, 6, 40], filter: [3, 3, 40, 48], strides: 1, pad: 'same' }, 19);
  });

  it('filter gradient on wasm with default routing equals cpu on a layer whose dy takes the phase-grid route', async () => {
    await assertWasmMatchesCpu({ x: [4, 32, 32, 1], filter: [3, 3, 1, 64], strides: 1, pad: 'same' }, 24, { default: {} });
  });

  it('filter gradient on wasm matches central finite differences of the conv2d loss', async () => {
    await tf.setBackend('wasm');
    const xShape: Shape4 = [2, 5, 6, 2];
    const fShape: Shape4 = [3, 3, 2, 3];
    const x = tf.tensor4d(normals(tf.util.sizeFromShape(xShape), 21), xShape);
    const filter = normals(tf.util.sizeFromShape(fShape), 22);
    const outShape = tf.conv2d(x, tf.zeros<tf.Rank.R4>(fShape), 2, 'same').shape;
    const w = tf.tensor(normals(tf.util.sizeFromShape(outShape), 23), outShape);
    const loss = (f: tf.Tensor) =>
      tf
        .conv2d(x, f as tf.Tensor4D, 2, 'same')
        .mul(w)
        .sum();
    // The loss is linear in the filter, so a large step has no truncation error and keeps float32 rounding small.
    const worst = worstFiniteDifference(loss, filter, fShape, 1);
    tf.dispose([x, w]);
    assert.ok(worst < 1e-3, `finite-difference mismatch ${worst}`);
  });

  it('rejects NCHW with an error that names the value and what is allowed', async () => {
    await assertRejectsNchw('Conv2DBackpropFilter', { x: [1, 2, 5, 5], dy: [1, 3, 5, 5] }, { strides: 1, pad: 'same', filterShape: [3, 3, 2, 3] });
  });
});
