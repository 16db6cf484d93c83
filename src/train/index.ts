/**
 * `branchy/train`: joint and frozen training of early-exit networks on tfjs (wasm or cpu), checkpoints, and the
 * whole recipe of a training run (`runTraining`). Importing it loads tfjs.
 *
 * @example
 * import { TfjsNetwork, trainNetwork, DEFAULT_TRAIN_OPTIONS } from 'branchy/train';
 * import { mnistSplits, zooModel } from 'branchy/node';
 * const net = new TfjsNetwork(zooModel('b-lenet').build({ classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] }));
 * await trainNetwork(net, mnistSplits(1), { ...DEFAULT_TRAIN_OPTIONS, epochs: 2 });
 *
 * @module
 */
export { trainNetwork, exitAccuracies, type TrainEvent, type TrainHooks, type TrainState, type TrainSummary } from './trainer.ts';
export {
  DEFAULT_TRAIN_OPTIONS,
  LR_SCHEDULES,
  TRAIN_MODES,
  OPTIMIZERS,
  validateTrainOptions,
  type LrSchedule,
  type OptimizerName,
  type TrainMode,
  type TrainOptions,
} from './options.ts';
export { runTraining, normalizationOf, type TrainRun, type TrainingOutcome } from './run-training.ts';
export { SHIPPED_MNIST_TRAINING, SHIPPED_RECIPE } from './recipes.ts';
export { initFromBaseline } from './init-from.ts';
export { TfjsNetwork, type ForwardOptions } from '../engine/tfjs/network.ts';
export { useWasmTrainingKernels } from '../engine/tfjs/kernels/index.ts';
export {
  trainSharedSuccessor,
  attachFront,
  unionOfClasses,
  adapterSpec,
  successorSpec,
  sameCostSpec,
  DEFAULT_COMMON_SHAPE,
  type FrontRequest,
  type SharedTrainOptions,
  type SharedSuccessorRun,
  type AttachFrontRun,
  type SharedTrainingOutcome,
} from './shared-successor.ts';
