import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../../../src/common/rng.ts';
import { useWasmTrainingKernels } from '../../../src/engine/tfjs/kernels/index.ts';

/*
 * Scaffolding shared by the wasm kernel tests: each runs the same computation on tfjs-cpu (the reference) and on
 * wasm with branchy's kernels, and compares the two.
 */

/** An NHWC tensor shape, or a filter shape [KH, KW, input channels, output channels or multiplier]. */
export type Shape4 = [number, number, number, number];

/** Every padding form tfjs convs accept. */
export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** One conv layer to test a gradient kernel on. */
export interface ConvCase {
  x: Shape4;
  /** [KH, KW, C, output channels] for conv2d, [KH, KW, C, channel multiplier] for depthwiseConv2d. */
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
}

/**
 * The worst relative difference, over every element of `values`, between the analytic gradient of the scalar
 * `loss` at `values` (shaped `shape`) and its central finite difference with step `h`.
 */
export function worstFiniteDifference(loss: (v: tf.Tensor) => tf.Scalar | tf.Tensor, values: Float32Array, shape: Shape4, h: number): number {
  const analytic = tf.tidy(() => tf.grad(loss)(tf.tensor4d(values, shape)).dataSync());
  let worst = 0;
  for (let i = 0; i < values.length; i++) {
    const numeric = tf.tidy(() => {
      const plus = values.slice();
      const minus = values.slice();
      plus[i] += h;
      minus[i] -= h;
      return (loss(tf.tensor4d(plus, shape)).dataSync()[0] - loss(tf.tensor4d(minus, shape)).dataSync()[0]) / (2 * h);
    });
    worst = Math.max(worst, Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(analytic[i])));
  }
  return worst;
}

/** `size` seeded standard normal values. */
export function normals(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: size }, () => rng.normal());
}

/** max |a - b| / max(1, max |b|) */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'result sizes differ');
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Asserts `relErr(actual, expected) < tolerance`; `context` (e.g. the case) ends the failure message. */
export function assertRelErrBelow(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, context?: string): void {
  const err = relErr(actual, expected);
  assert.ok(err < tolerance, context === undefined ? `relative error ${err}` : `relative error ${err} ${context}`);
}

/** For `before`: registers the kernels under test and starts on an initialised wasm backend. */
export async function setUpWasm(): Promise<void> {
  tf.env().set('PROD', true);
  useWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
}

/** Runs `fn` on the cpu backend, the reference the wasm kernels are held to. */
export async function onCpu<T>(fn: () => T): Promise<T> {
  await tf.setBackend('cpu');
  return fn();
}

/** Runs `fn` on the wasm backend and checks it leaves no tensor and no backend data behind. */
export async function onWasmWithoutLeaks<T>(fn: () => T): Promise<T> {
  await tf.setBackend('wasm');
  const tensors = tf.memory().numTensors;
  const dataIds = tf.engine().backend.numDataIds();
  const result = fn();
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(tf.engine().backend.numDataIds(), dataIds, 'wasm data leaked');
  return result;
}

/** Runs `fn` on cpu, then on wasm without leaks, and returns both results for the caller to compare. */
export async function compareBackends<T>(fn: () => T): Promise<{ cpu: T; wasm: T }> {
  const cpu = await onCpu(fn);
  const wasm = await onWasmWithoutLeaks(fn);
  return { cpu, wasm };
}

/** A conv op as the gradient tests call it: `tf.conv2d` or `tf.depthwiseConv2d`. */
export type ConvOp = (x: tf.Tensor4D, filter: tf.Tensor4D, strides: ConvCase['strides'], pad: Pad) => tf.Tensor4D;

/**
 * dL/d`wrt` for L = sum(op(x, filter) * dy), through the public op and tfjs's gradient of it, with x, filter and dy
 * seeded from `seed`, `seed + 1` and `seed + 2`. Going through the op (not the kernel) also tests the attrs tfjs
 * hands the gradient kernels.
 */
export function convGradient(op: ConvOp, wrt: 'x' | 'filter', c: ConvCase, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(normals(tf.util.sizeFromShape(c.x), seed), c.x);
    const filter = tf.tensor4d(normals(tf.util.sizeFromShape(c.filter), seed + 1), c.filter);
    const outShape = op(x, filter, c.strides, c.pad).shape;
    const dy = tf.tensor(normals(tf.util.sizeFromShape(outShape), seed + 2), outShape);
    const grad =
      wrt === 'x'
        ? tf.grad((v: tf.Tensor) =>
            op(v as tf.Tensor4D, filter, c.strides, c.pad)
              .mul(dy)
              .sum(),
          )(x)
        : tf.grad((v: tf.Tensor) =>
            op(x, v as tf.Tensor4D, c.strides, c.pad)
              .mul(dy)
              .sum(),
          )(filter);
    return grad.dataSync() as Float32Array;
  });
}

/** Runs a kernel by name, inside a tidy, on inputs that `inputs` makes there; returns the output's values. */
export function runKernelValues(kernelName: string, inputs: () => tf.NamedTensorMap, attrs: tf.NamedAttrMap): Float32Array {
  return tf.tidy(() => {
    const out = tf.engine().runKernel(kernelName, inputs(), attrs) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

/** Asserts that `fn` throws the error branchy's wasm kernels throw for what they cannot handle, with `message`. */
export function assertUnsupportedAttr(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, { name: 'BranchyArgumentError', code: 'KERNEL_UNSUPPORTED_ATTR', message });
}

/**
 * Asserts that the wasm kernel `kernelName` refuses an NCHW data format with an error that names the value and what
 * is allowed, given zero inputs of `inputShapes` and otherwise valid `attrs`.
 */
export async function assertRejectsNchw(kernelName: string, inputShapes: Record<string, number[]>, attrs: tf.NamedAttrMap): Promise<void> {
  await tf.setBackend('wasm');
  const inputs: tf.NamedTensorMap = {};
  for (const [name, shape] of Object.entries(inputShapes)) inputs[name] = tf.zeros(shape);
  try {
    assertUnsupportedAttr(() => tf.engine().runKernel(kernelName, inputs, { ...attrs, dataFormat: 'NCHW' }), /"NCHW".*'NHWC'/);
  } finally {
    tf.dispose(Object.values(inputs));
  }
}
