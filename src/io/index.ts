export * from './frame.ts';
export * from './model-dir.ts';
export * from './open-model.ts';
export * from './stored-calibration.ts';
