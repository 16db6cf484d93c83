/** branchy's Node entry: everything in `branchy` plus model directories, data sets, training, calibration and the HTTP server. */
export * from './index.ts';
export * from './io/model-dir.ts';
export { openModel, resolveEngine, ENGINE_CHOICES, type EngineChoice, type OpenModelOptions } from './io/open-model.ts';
export { readStoredCalibration } from './io/stored-calibration.ts';
export { importOnnxDir, type ImportOnnxOptions } from './io/import-onnx.ts';
export { nodeOrtEngine, loadOnnxruntimeNode } from './engine/ort/node-engine.ts';
export * from './data/index.ts';
export { readInputFile, readPngAsInput, writePng } from './data/png.ts';
export * from './train/index.ts';
export * from './calibrate/index.ts';
export * from './serve/index.ts';
