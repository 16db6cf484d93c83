import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { AdamUpdate } from '../../../src/engine/tfjs/kernels/AdamUpdate.ts';
import { TfjsNetwork } from '../../../src/engine/tfjs/network.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../../../src/train/index.ts';
import { createOptimizer } from '../../../src/train/optimizer.ts';
import { tinySpec } from '../../helpers.ts';
import { assertRelErrBelow, assertUnsupportedAttr, normals, onCpu, setUpWasm } from './compare-backends.ts';

/**
 * Three Adam steps on the weights of a tiny network with seeded gradients, through branchy's optimiser; returns the
 * weights and the optimiser's state after them. On cpu that is tfjs's own Adam (the reference), on wasm the fused
 * kernel.
 */
async function adamSteps(): Promise<{ weights: Record<string, Float32Array>; state: Record<string, Float32Array> }> {
  const net = new TfjsNetwork(tinySpec(), undefined, 4);
  const variables = net.trainableVariables('all');
  const training = createOptimizer({ ...DEFAULT_TRAIN_OPTIONS, learningRate: 0.01 }, net, variables);
  for (let step = 0; step < 3; step++) {
    const grads = variables.map((v, i) => ({ name: v.name, tensor: tf.tensor(normals(v.size, 100 * step + i), v.shape) }));
    training.optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  }
  const result = { weights: net.weights(), state: await training.state() };
  training.dispose();
  net.dispose();
  return result;
}

before(setUpWasm);

describe('fused Adam step on wasm', () => {
  it("is registered on wasm only, so other backends run tfjs's Adam", () => {
    assert.ok(tf.getKernel(AdamUpdate, 'wasm') !== undefined);
    assert.equal(tf.getKernel(AdamUpdate, 'cpu'), undefined);
  });

  it("matches tfjs's Adam on cpu over three steps: weights, both moments and the step count", async () => {
    const cpu = await onCpu(adamSteps);
    await tf.setBackend('wasm');
    const tensors = tf.memory().numTensors;
    const wasm = await adamSteps();
    assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
    assert.deepEqual(Object.keys(wasm.state).sort(), Object.keys(cpu.state).sort());
    assert.equal(wasm.state.iter[0], 3);
    for (const [name, values] of Object.entries(cpu.state)) assertRelErrBelow(wasm.state[name], values, 1e-6, `for slot ${name}`);
    for (const [name, values] of Object.entries(cpu.weights)) assertRelErrBelow(wasm.weights[name], values, 1e-6, `for weight ${name}`);
  });

  it('refuses a gradient whose size differs from the variable', () => {
    const value = tf.zeros([3]);
    const scalar = tf.scalar(0.9);
    try {
      assertUnsupportedAttr(
        () =>
          tf
            .engine()
            .runKernel(
              AdamUpdate,
              { value, m: value, v: value, gradient: tf.zeros([4]), accBeta1: scalar, accBeta2: scalar },
              { beta1: 0.9, beta2: 0.999, learningRate: 0.1, epsilon: 1e-7 },
            ),
        /must have the value's shape \[3\]; got \[4\]/,
      );
    } finally {
      tf.dispose([value, scalar]);
    }
  });
});
