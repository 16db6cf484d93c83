export * from './frame.ts';
export * from './model-dir.ts';
export * from './shipped-models.ts';
export * from './stored-calibration.ts';
export * from './shared-successor.ts';
