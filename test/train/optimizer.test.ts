import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { DEFAULT_TRAIN_OPTIONS, trainNetwork, type TrainOptions, type TrainState } from '../../src/train/index.ts';
import { createOptimizer } from '../../src/train/optimizer.ts';
import { stripes, tinySpec } from '../helpers.ts';

const sgd = (o: Partial<TrainOptions> = {}): TrainOptions => ({
  ...DEFAULT_TRAIN_OPTIONS,
  optimizer: 'sgd',
  momentum: 0.9,
  learningRate: 0.05,
  batchSize: 16,
  epochs: 2,
  ...o,
});

describe('SGD with momentum', () => {
  const data = { train: stripes(96, 1), validation: stripes(48, 2) };
  before(() => useBackend('wasm'));

  it('learns every exit, with a step schedule', async () => {
    const net = new TfjsNetwork(tinySpec(), undefined, 1);
    const summary = await trainNetwork(net, data, sgd({ epochs: 8, lrSchedule: 'step', lrStepEpochs: [6] }));
    assert.ok(
      summary.validationAccuracy.every((a) => a > 0.8),
      `validation accuracy ${summary.validationAccuracy}`,
    );
    net.dispose();
  });

  it('one step moves a weight by -lr·g, the next by -lr·(μ·g₁ + g₂): the momentum update', async () => {
    const net = new TfjsNetwork(tinySpec(), undefined, 2);
    const variables = net.trainableVariables('all');
    const training = createOptimizer(sgd({ learningRate: 0.1, momentum: 0.5 }), net, variables);
    const w0 = net.weights();
    const x = tf.tensor(data.train.x.subarray(0, 8 * 36), [8, 6, 6, 1]);
    const loss = () => tf.sum(net.forward(x, { training: false })[2]) as tf.Scalar;
    const gradient = () => tf.tidy(() => tf.variableGrads(loss, variables).grads);
    const name = 'exit3.0.bias';
    const variable = variables.find((v) => net.weightName(v) === name)!;
    const g1 = gradient()[variable.name].dataSync().slice();
    training.optimizer.minimize(loss, false, variables);
    const w1 = net.weights();
    g1.forEach((g, i) => assert.ok(Math.abs(w1[name][i] - (w0[name][i] - 0.1 * g)) < 1e-5));
    const g2 = gradient()[variable.name].dataSync().slice();
    training.optimizer.minimize(loss, false, variables);
    const w2 = net.weights();
    g2.forEach((g, i) => assert.ok(Math.abs(w2[name][i] - (w1[name][i] - 0.1 * (0.5 * g1[i] + g))) < 1e-5));
    const state = await training.state();
    assert.deepEqual(Object.keys(state).sort(), ['iter', ...variables.map((v) => `${net.weightName(v)}/momentum`)].sort());
    x.dispose();
    training.dispose();
    net.dispose();
  });

  it('resuming from a checkpoint ends where an uninterrupted run ends', async () => {
    const options = sgd({ epochs: 3, lrSchedule: 'step', lrStepEpochs: [1] });
    const full = new TfjsNetwork(tinySpec(), undefined, 2);
    await trainNetwork(full, data, options);
    const first = new TfjsNetwork(tinySpec(), undefined, 2);
    let saved: { state: TrainState; weights: Record<string, Float32Array> } | undefined;
    await trainNetwork(first, data, { ...options, epochs: 1 }, { onCheckpoint: (state) => void (saved = { state, weights: first.weights() }) });
    assert.ok(Object.keys(saved!.state.optimizer).some((k) => k.endsWith('/momentum')));
    const resumed = new TfjsNetwork(tinySpec(), saved!.weights);
    await trainNetwork(resumed, data, options, {}, saved!.state);
    const a = full.weights();
    const b = resumed.weights();
    for (const name of Object.keys(a)) assert.deepEqual(b[name], a[name], name);
    [full, first, resumed].forEach((n) => n.dispose());
  });

  it("refuses to resume from another optimizer's state", async () => {
    const adam = new TfjsNetwork(tinySpec(), undefined, 3);
    let saved: TrainState | undefined;
    await trainNetwork(adam, data, { ...sgd({ epochs: 1 }), optimizer: 'adam' }, { onCheckpoint: (state) => void (saved = state) });
    await assert.rejects(trainNetwork(adam, data, sgd({ epochs: 2 }), {}, saved), {
      code: 'TRAIN_BAD_CHECKPOINT',
      message: /lacks .*\/momentum'.*this run uses sgd/,
    });
    adam.dispose();
  });
});
