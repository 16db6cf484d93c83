export * from './frame.ts';
export * from './model-dir.ts';
