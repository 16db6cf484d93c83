import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './options.ts';

/**
 * The recipe of the shipped models, as in the paper: train LeNet, start B-LeNet from it, train jointly. Beyond
 * the paper's Adam settings it shifts images by up to 2 pixels and decays the learning rate along a cosine.
 * `branchy demo --train` and `branchy reproduce` train with it.
 */
export const SHIPPED_RECIPE: Omit<TrainOptions, 'epochs' | 'seed'> = { ...DEFAULT_TRAIN_OPTIONS, augmentShift: 2, lrSchedule: 'cosine' };

/**
 * How `models/lenet-mnist` and `models/b-lenet-mnist` were made (`branchy demo --train` repeats it): {@link SHIPPED_RECIPE}
 * on full MNIST (55,000 training digits, split seed 1), inputs normalised with the train split's mean and std,
 * `baselineEpochs` of LeNet, then `epochs` of joint B-LeNet started from it, and thresholds chosen on the 5,000-digit
 * validation hold-out: the cheapest point within `maxDrop` of the final exit's accuracy. The paper trains 50 + 100
 * epochs at batch 512; these budgets are what fit this project's 2-core build machine (docs/results.md).
 */
export const SHIPPED_MNIST_TRAINING = Object.freeze({
  data: 'mnist-full',
  splitSeed: 1,
  seed: 1,
  baselineEpochs: 12,
  epochs: 24,
  maxDrop: 0.001,
});
