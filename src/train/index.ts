export { trainNetwork, exitAccuracies, type TrainEvent, type TrainHooks, type TrainState, type TrainSummary } from './trainer.ts';
export { DEFAULT_TRAIN_OPTIONS, resolveExitWeights, validateTrainOptions, type TrainMode, type TrainOptions } from './options.ts';
export { initFromBaseline } from './init-from.ts';
