import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { lrnConfig, lrnGradConfig, useWasmTrainingKernels } from '../../../src/engine/tfjs/kernels/index.ts';
import { assertRelErrBelow, assertUnsupportedAttr, compareBackends, normals, setUpWasm, worstFiniteDifference, type Shape4 } from './compare-backends.ts';

interface LrnCase {
  x: Shape4;
  depthRadius: number;
  bias: number;
  alpha: number;
  beta: number;
}

/** B-AlexNet's LRN (Chainer's n=3, k=2, alpha=5e-5, beta=0.75), with inputs scaled up so the norm term matters. */
const ALEXNET: Omit<LrnCase, 'x'> = { depthRadius: 1, bias: 2, alpha: 5e-5, beta: 0.75 };

function lrnOf(c: LrnCase, v: tf.Tensor): tf.Tensor {
  return tf.localResponseNormalization(v as tf.Tensor4D, c.depthRadius, c.bias, c.alpha, c.beta);
}

/** The LRN of seeded x (times `scale`) and dL/dx for L = sum(lrn(x) * w), w seeded too. */
function lrnAndGradient(c: LrnCase, seed: number, scale: number): { y: Float32Array; dx: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(
      normals(tf.util.sizeFromShape(c.x), seed).map((v) => v * scale),
      c.x,
    );
    const w = tf.tensor4d(normals(tf.util.sizeFromShape(c.x), seed + 1), c.x);
    const y = lrnOf(c, x).dataSync() as Float32Array;
    const dx = tf
      .grad((v: tf.Tensor) => lrnOf(c, v).mul(w).sum())(x)
      .dataSync() as Float32Array;
    return { y, dx };
  });
}

async function assertWasmMatchesCpu(c: LrnCase, seed: number, scale = 30): Promise<void> {
  const { cpu, wasm } = await compareBackends(() => lrnAndGradient(c, seed, scale));
  assertRelErrBelow(wasm.y, cpu.y, 1e-5, `for LRN of ${JSON.stringify(c)}`);
  assertRelErrBelow(wasm.dx, cpu.dx, 1e-5, `for LRNGrad of ${JSON.stringify(c)}`);
}

before(setUpWasm);

describe('LRN and LRNGrad on wasm', () => {
  it("replace tfjs-wasm's kernels, and registering again changes nothing", () => {
    assert.equal(tf.getKernel('LRN', 'wasm')?.kernelFunc, lrnConfig.kernelFunc);
    assert.equal(tf.getKernel('LRNGrad', 'wasm')?.kernelFunc, lrnGradConfig.kernelFunc);
    useWasmTrainingKernels();
    assert.equal(tf.getKernel('LRN', 'wasm')?.kernelFunc, lrnConfig.kernelFunc);
    assert.equal(tf.getKernel('LRNGrad', 'wasm')?.kernelFunc, lrnGradConfig.kernelFunc);
  });

  it("equal cpu for B-AlexNet's LRN (radius 1, beta 0.75)", async () => {
    await assertWasmMatchesCpu({ x: [2, 4, 5, 32], ...ALEXNET }, 61);
  });

  it('equal cpu for a wide window, a beta without a square-root form, and a strong norm term', async () => {
    await assertWasmMatchesCpu({ x: [2, 3, 3, 11], depthRadius: 4, bias: 1, alpha: 1e-3, beta: 0.6 }, 62, 5);
  });

  it('equal cpu for beta 0.5 and 1, and a window wider than the channels', async () => {
    await assertWasmMatchesCpu({ x: [1, 3, 4, 6], depthRadius: 2, bias: 1.5, alpha: 0.01, beta: 0.5 }, 63, 3);
    await assertWasmMatchesCpu({ x: [1, 2, 3, 3], depthRadius: 5, bias: 1, alpha: 0.02, beta: 1 }, 64, 3);
  });

  it('LRN gradient on wasm matches central finite differences', async () => {
    await tf.setBackend('wasm');
    const c: LrnCase = { x: [1, 2, 3, 7], depthRadius: 2, bias: 1, alpha: 0.05, beta: 0.75 };
    const x = normals(tf.util.sizeFromShape(c.x), 65);
    const w = tf.tensor4d(normals(tf.util.sizeFromShape(c.x), 66), c.x);
    const loss = (v: tf.Tensor) => lrnOf(c, v).mul(w).sum();
    const worst = worstFiniteDifference(loss, x, c.x, 1e-2);
    w.dispose();
    assert.ok(worst < 2e-3, `finite-difference mismatch ${worst}`);
  });

  it('refuse operands of different shapes', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 2, 2, 3]);
    const dy = tf.zeros([1, 2, 2, 4]);
    try {
      assertUnsupportedAttr(() => tf.engine().runKernel('LRNGrad', { x, y: x, dy }, { ...ALEXNET }), /must have one shape; got \[1,2,2,3\] and \[1,2,2,4\]/);
    } finally {
      tf.dispose([x, dy]);
    }
  });
});
