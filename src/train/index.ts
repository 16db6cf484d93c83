export { trainNetwork, exitAccuracies, type TrainEvent, type TrainHooks, type TrainState, type TrainSummary } from './trainer.ts';
export { DEFAULT_TRAIN_OPTIONS, LR_SCHEDULES, OPTIMIZERS, learningRateAt, lrStepEpochs, resolveExitWeights, validateTrainOptions, type LrSchedule, type OptimizerName, type TrainMode, type TrainOptions } from './options.ts';
export { createOptimizer, type TrainingOptimizer } from './optimizer.ts';
export { batchAugmenter, flipImages, shiftImages, type BatchAugmenter } from './augment.ts';
export { initFromBaseline } from './init-from.ts';
