/**
 * Opening a model on an engine: the composition of model directories (`io/`) and the engines' public faces.
 * Node only (it reads files and loads onnxruntime-node).
 *
 * @module
 */
export { openModel, resolveEngine, ENGINE_CHOICES, type EngineChoice, type OpenModelOptions } from './open-model.ts';
export { importOnnxDir, type ImportOnnxOptions } from './import-onnx.ts';
export { exportModelDirOnnx } from './export-onnx.ts';
