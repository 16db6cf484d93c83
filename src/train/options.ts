import { BranchyArgumentError } from '../common/errors.ts';

/**
 * How a network learns, as its model directory's training metadata states it: `joint` (the paper: every weight
 * learns), `frozen` (only the exit heads learn over a fixed trunk), `successor` (adapters and a shared successor
 * learn over frozen front-ends: `trainSharedSuccessor`), `attach` (one new adapter learns against frozen
 * front-ends and a frozen successor: `attachFront`). `trainNetwork` runs the first two.
 */
export type TrainMode = 'joint' | 'frozen' | 'successor' | 'attach';

/** The training modes, in the order above. */
export const TRAIN_MODES: readonly TrainMode[] = ['joint', 'frozen', 'successor', 'attach'];

/** The optimisers training offers: Adam (the paper) and SGD with momentum. */
export const OPTIMIZERS = ['adam', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** Learning-rate schedules over the epochs. */
export const LR_SCHEDULES = ['constant', 'cosine', 'step'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

/** Settings of one training run; every field has the paper's default. */
export interface TrainOptions {
  /**
   * `joint` (the paper): every weight learns from loss = Σ wₙ·CE(exit n). `frozen`: only the exit heads learn;
   * the trunk's weights and batch-norm statistics stay as they are (train or load the trunk first).
   */
  mode: TrainMode;
  epochs: number;
  batchSize: number;
  /**
   * Split each batch into parts of at most this many samples, run forward and backward on one part at a time
   * and apply the summed gradients once per batch (default: the whole batch at once). The gradient is that of the
   * whole batch, except that batch-norm layers see each part's statistics and update their moving statistics
   * once per part. For networks whose activations do not fit in memory at the batch size: tfjs-wasm's heap ends
   * at 4 GiB, and B-ResNet-110 needs about 2.3 GiB per 32 samples.
   */
  microBatch?: number;
  /** `adam` (the paper, default) or `sgd` with momentum. */
  optimizer?: OptimizerName;
  /** The step size (at the first epoch, under a schedule). */
  learningRate: number;
  /** Adam's decay rates. */
  beta1: number;
  beta2: number;
  /** SGD's momentum μ (default 0.9): `v ← μ·v + g`, `w ← w − lr·v`. */
  momentum?: number;
  /** Loss weight per exit; default 1.0 on every early exit and 0.3 on the final one (the paper's B-LeNet). */
  exitWeights?: number[];
  /** Seeds the shuffles, augmentation and dropout masks (weights are seeded when the network is built). */
  seed: number;
  /**
   * Learning-rate schedule over the epochs, set once per epoch: `constant` (the paper), `cosine` (from
   * `learningRate` down to 0 along half a cosine) or `step` (multiplied by `lrGamma` after each epoch in
   * `lrStepEpochs`).
   */
  lrSchedule?: LrSchedule;
  /** With `step`: the epochs after which the rate drops (default: after half and three quarters of the epochs). */
  lrStepEpochs?: number[];
  /** With `step`: the factor of each drop (default 0.1). */
  lrGamma?: number;
  /**
   * Shift each training image by up to this many pixels per axis, at random, filling with zeros (0 = no
   * augmentation). This is the same as the usual "pad by n, crop at random" of CIFAR training.
   */
  augmentShift?: number;
  /** Mirror each training image left to right with probability 1/2 (CIFAR's flip augmentation). */
  augmentFlip?: boolean;
}

/** The paper's defaults: Adam (1e-3, β1 0.99, β2 0.999), batch 64. */
export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  mode: 'joint',
  epochs: 10,
  batchSize: 64,
  learningRate: 1e-3,
  beta1: 0.99,
  beta2: 0.999,
  seed: 1,
};

/** The exit weights to use for a network with `exits` exits, checked. */
export function resolveExitWeights(weights: number[] | undefined, exits: number): number[] {
  if (weights === undefined) return Array.from({ length: exits }, (_, i) => (i === exits - 1 && exits > 1 ? 0.3 : 1));
  if (weights.length !== exits) {
    throw new BranchyArgumentError('TRAIN_EXIT_WEIGHTS', `'exitWeights' has ${weights.length} values; this network has ${exits} exits.`);
  }
  weights.forEach((w, i) => {
    if (!Number.isFinite(w) || w < 0) throw new BranchyArgumentError('TRAIN_EXIT_WEIGHTS', `'exitWeights[${i}]' is ${w}; expected a finite number ≥ 0.`);
  });
  if (weights.every((w) => w === 0)) throw new BranchyArgumentError('TRAIN_EXIT_WEIGHTS', `'exitWeights' are all 0; nothing would learn.`);
  return weights;
}

/** Checks numeric options a user typed. */
export function validateTrainOptions(o: TrainOptions): void {
  const positiveInt = (name: keyof TrainOptions, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'${name}' is ${v}; expected a positive integer.`);
  };
  positiveInt('epochs', o.epochs);
  positiveInt('batchSize', o.batchSize);
  if (o.microBatch !== undefined) positiveInt('microBatch', o.microBatch);
  if (!(o.learningRate > 0) || !Number.isFinite(o.learningRate))
    throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'learningRate' is ${o.learningRate}; expected a positive number.`);
  for (const b of ['beta1', 'beta2'] as const) {
    if (!(o[b] >= 0 && o[b] < 1)) throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'${b}' is ${o[b]}; expected a number in [0, 1).`);
  }
  if (o.augmentShift !== undefined && !(Number.isInteger(o.augmentShift) && o.augmentShift >= 0)) {
    throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'augmentShift' is ${o.augmentShift}; expected a whole number of pixels ≥ 0.`);
  }
  if (o.lrSchedule !== undefined && !LR_SCHEDULES.includes(o.lrSchedule)) {
    throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'lrSchedule' is ${JSON.stringify(o.lrSchedule)}; expected one of ${LR_SCHEDULES.join(', ')}.`);
  }
  if (o.optimizer !== undefined && !OPTIMIZERS.includes(o.optimizer)) {
    throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'optimizer' is ${JSON.stringify(o.optimizer)}; expected one of ${OPTIMIZERS.join(', ')}.`);
  }
  if (o.momentum !== undefined && !(o.momentum >= 0 && o.momentum < 1)) {
    throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'momentum' is ${o.momentum}; expected a number in [0, 1).`);
  }
  if (o.lrGamma !== undefined && !(o.lrGamma > 0 && o.lrGamma <= 1)) {
    throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'lrGamma' is ${o.lrGamma}; expected a number in (0, 1].`);
  }
  o.lrStepEpochs?.forEach((e, i) => {
    if (!Number.isInteger(e) || e < 1)
      throw new BranchyArgumentError('TRAIN_BAD_OPTION', `'lrStepEpochs[${i}]' is ${e}; expected a positive whole epoch number.`);
  });
  if (o.mode !== 'joint' && o.mode !== 'frozen')
    throw new BranchyArgumentError(
      'TRAIN_BAD_OPTION',
      `'mode' is ${JSON.stringify(o.mode)}; a network trains 'joint' or 'frozen' (the 'successor' and 'attach' modes train adapters and a shared successor: trainSharedSuccessor, attachFront).`,
    );
}

/** The epochs after which a `step` schedule drops the rate: as given, or after half and three quarters of the run. */
export function lrStepEpochs(o: TrainOptions): number[] {
  return o.lrStepEpochs ?? [Math.floor(o.epochs / 2), Math.floor((3 * o.epochs) / 4)].filter((e) => e >= 1);
}

/** The learning rate for a 1-based epoch under the options' schedule. */
export function learningRateAt(o: TrainOptions, epoch: number): number {
  if (o.lrSchedule === 'cosine') return o.learningRate * 0.5 * (1 + Math.cos((Math.PI * (epoch - 1)) / o.epochs));
  if (o.lrSchedule === 'step') return o.learningRate * (o.lrGamma ?? 0.1) ** lrStepEpochs(o).filter((after) => epoch > after).length;
  return o.learningRate;
}
