import * as tf from '@tensorflow/tfjs-core';
import { failpoint } from '../common/failpoint.ts';
import { Rng } from '../common/rng.ts';
import type { Dataset } from '../data/index.ts';
import type { TfjsNetwork } from '../engine/tfjs/network.ts';
import { useWasmTrainingKernels, wasmTrainingKernelsRegistered } from '../engine/tfjs/kernels/index.ts';
import { batchAugmenter } from './augment.ts';
import { loadTfjsGradients } from './gradients.ts';
import { createOptimizer } from './optimizer.ts';
import { learningRateAt, resolveExitWeights, validateTrainOptions, type TrainOptions } from './options.ts';

/** What a training run reports as it goes. */
export type TrainEvent =
  | { type: 'epoch-start'; epoch: number; epochs: number; steps: number }
  | { type: 'step'; epoch: number; step: number; steps: number }
  | { type: 'epoch-end'; epoch: number; epochs: number; loss: number; validationAccuracy: number[]; seconds: number; samplesPerSecond: number };

/** Everything needed to continue a run exactly where it stopped. */
export interface TrainState {
  /** Epochs completed. */
  epoch: number;
  /** The optimiser's slots (Adam's moments, SGD's momentum) by weight name, and its step count. */
  optimizer: Record<string, Float32Array>;
}

/** Callbacks of a training run. */
export interface TrainHooks {
  onEvent?(event: TrainEvent): void;
  /** Called after every epoch with the state to checkpoint; training waits for it. */
  onCheckpoint?(state: TrainState, event: Extract<TrainEvent, { type: 'epoch-end' }>): Promise<void> | void;
}

/** The outcome of a run: the last epoch's figures. */
export interface TrainSummary {
  epochs: number;
  loss: number;
  validationAccuracy: number[];
  seconds: number;
  samplesPerSecond: number;
}

/** Per-exit accuracy of a network on a data set, in inference mode. */
export function exitAccuracies(net: TfjsNetwork, ds: Dataset, batchSize = 500): number[] {
  const correct = new Array<number>(net.depth).fill(0);
  const row = ds.x.length / ds.count;
  for (let start = 0; start < ds.count; start += batchSize) {
    const n = Math.min(batchSize, ds.count - start);
    const predictions = tf.tidy(() => {
      const x = tf.tensor(ds.x.subarray(start * row, (start + n) * row), [n, ...ds.shape]);
      return net.forward(x, { training: false }).map((logits) => tf.argMax(logits, 1));
    });
    predictions.forEach((p, e) => {
      const labels = p.dataSync();
      for (let i = 0; i < n; i++) if (labels[i] === ds.y[start + i]) correct[e]++;
      p.dispose();
    });
  }
  return correct.map((c) => c / ds.count);
}

/**
 * One optimiser step on a batch of `n` samples run in parts of at most `part`: each part's mean loss gradient,
 * weighted by its share of the batch, is added up (outside any part's graph, so only one part's activations are
 * alive at a time) and applied once. Returns the batch's mean loss.
 */
function accumulatedStep(
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  n: number,
  part: number,
  partLoss: (from: number, size: number) => () => tf.Scalar,
): tf.Scalar {
  let sums: Record<string, tf.Tensor> | null = null;
  let loss: tf.Scalar = tf.scalar(0);
  for (let from = 0; from < n; from += part) {
    const size = Math.min(part, n - from);
    const share = size / n;
    const { value, grads } = optimizer.computeGradients(partLoss(from, size), variables);
    const next: Record<string, tf.Tensor> = {};
    for (const [name, g] of Object.entries(grads)) next[name] = sums ? tf.add(sums[name], tf.mul(g, share)) : tf.mul(g, share);
    if (sums) Object.values(sums).forEach((t) => t.dispose());
    Object.values(grads).forEach((t) => t.dispose());
    sums = next;
    const total: tf.Scalar = tf.add(loss, tf.mul(value, share));
    loss.dispose();
    value.dispose();
    loss = total;
  }
  optimizer.applyGradients(sums!);
  return loss;
}

/**
 * Trains a network on `train`, reporting per-exit accuracy on `validation` after every epoch.
 *
 * Loss = Σₙ wₙ · CE(exit n) over one graph, so one backward pass serves every exit. Deterministic for a seed on
 * one backend: batches are shuffled by `Rng(seed + epoch)` and dropout masks are seeded per step, which also
 * makes `resume` continue exactly where a run stopped.
 */
export async function trainNetwork(
  net: TfjsNetwork,
  data: { train: Dataset; validation: Dataset },
  options: TrainOptions,
  hooks: TrainHooks = {},
  resume?: TrainState,
): Promise<TrainSummary> {
  validateTrainOptions(options);
  await loadTfjsGradients();
  if (tf.getBackend() === 'wasm' && !wasmTrainingKernelsRegistered()) useWasmTrainingKernels();
  const weights = resolveExitWeights(options.exitWeights, net.depth);
  const variables = net.trainableVariables(options.mode === 'frozen' ? 'exitHeads' : 'all');
  const training = createOptimizer(options, net, variables);
  const optimizer = training.optimizer;
  const { train } = data;
  const steps = Math.ceil(train.count / options.batchSize);
  const row = train.x.length / train.count;
  const classes = net.spec.classes.length;
  const firstEpoch = resume ? resume.epoch + 1 : 1;
  if (resume) await training.restore(resume.optimizer);
  let summary: TrainSummary = { epochs: firstEpoch - 1, loss: NaN, validationAccuracy: [], seconds: 0, samplesPerSecond: 0 };
  const xBuffer = new Float32Array(options.batchSize * row);
  const augment = batchAugmenter(options, train.shape, options.batchSize);
  const yBuffer = new Int32Array(options.batchSize);

  for (let epoch = firstEpoch; epoch <= options.epochs; epoch++) {
    hooks.onEvent?.({ type: 'epoch-start', epoch, epochs: options.epochs, steps });
    training.setLearningRate(learningRateAt(options, epoch));
    const order = new Rng(options.seed * 1_000_003 + epoch).permutation(train.count);
    net.setSeedCounter(options.seed * 1_000_000_007 + epoch * 100_003);
    const augmentRng = new Rng(options.seed * 7_919 + epoch);
    const started = performance.now();
    let lossSum: tf.Scalar = tf.scalar(0);
    for (let step = 0; step < steps; step++) {
      const begin = step * options.batchSize;
      const n = Math.min(options.batchSize, train.count - begin);
      for (let i = 0; i < n; i++) {
        const s = order[begin + i];
        xBuffer.set(train.x.subarray(s * row, (s + 1) * row), i * row);
        yBuffer[i] = train.y[s];
      }
      const input = augment ? augment(xBuffer, n, augmentRng) : xBuffer;
      const part = Math.min(n, options.microBatch ?? n);
      const cost = tf.tidy(() => {
        const partLoss = (from: number, size: number) => () => {
          const x = tf.tensor(input.subarray(from * row, (from + size) * row), [size, ...train.shape]);
          const y = tf.oneHot(tf.tensor1d(yBuffer.subarray(from, from + size), 'int32'), classes);
          const logits = net.forward(x, { training: true, frozenTrunk: options.mode === 'frozen' });
          return tf.addN(logits.map((l, e) => tf.mul(tf.losses.softmaxCrossEntropy(y, l), weights[e]))) as unknown as tf.Scalar;
        };
        if (part === n) return optimizer.minimize(partLoss(0, n), true, variables)!;
        return accumulatedStep(optimizer, variables, n, part, partLoss);
      });
      const next: tf.Scalar = tf.tidy(() => tf.add(lossSum, tf.mul(cost, n)));
      lossSum.dispose();
      cost.dispose();
      lossSum = next;
      hooks.onEvent?.({ type: 'step', epoch, step: step + 1, steps });
      failpoint('train:step');
      if (step % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    const loss = (await lossSum.data())[0] / train.count;
    lossSum.dispose();
    const seconds = (performance.now() - started) / 1000;
    const validationAccuracy = exitAccuracies(net, data.validation);
    const end = { type: 'epoch-end' as const, epoch, epochs: options.epochs, loss, validationAccuracy, seconds, samplesPerSecond: train.count / seconds };
    hooks.onEvent?.(end);
    if (hooks.onCheckpoint) await hooks.onCheckpoint({ epoch, optimizer: await training.state() }, end);
    summary = { epochs: epoch, loss, validationAccuracy, seconds, samplesPerSecond: end.samplesPerSecond };
  }
  training.dispose();
  return summary;
}
