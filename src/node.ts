/**
 * branchy's Node entry: everything in `branchy`, plus model directories, opening a model on an engine
 * (onnxruntime-node or tfjs), ONNX import and export, data sets and calibration. Training is in `branchy/train`,
 * the HTTP server in `branchy/serve`.
 *
 * @module
 */
export * from './index.ts';
export {
  loadModelDir,
  saveModelDir,
  readManifest,
  updateManifest,
  MANIFEST_FILE,
  MANIFEST_MAX_DEPTH,
  type ModelManifest,
  type LoadedModelDir,
  type OnnxManifest,
  type FileEntry,
  type OnnxFileEntry,
} from './io/model-dir.ts';
export { SHIPPED_MODEL_DIR, SHIPPED_BASELINE_DIR, SHIPPED_FASHION_MODEL_DIR } from './io/shipped-models.ts';
export { readStoredCalibration } from './io/stored-calibration.ts';
export {
  openModel,
  resolveEngine,
  ENGINE_CHOICES,
  importOnnxDir,
  exportModelDirOnnx,
  type EngineChoice,
  type OpenModelOptions,
  type ImportOnnxOptions,
} from './open/index.ts';
export { nodeOrtEngine } from './engine/ort/node-engine.ts';
export { loadDataSource, DATA_SOURCES, FASHION_MNIST_DIR } from './data/source.ts';
export { mnistSplits, loadMnistPackage, MNIST_PACKAGE_SPLIT } from './data/mnist-package.ts';
export { idxSplits, loadIdxDataset, type IdxLoadOptions, type IdxSplit } from './data/idx.ts';
export { cifar10Splits, loadCifar10, type Cifar10Split } from './data/cifar10.ts';
export { createDataset, subset, type Dataset, type DatasetSplits } from './data/dataset.ts';
export { splitDataset, type SplitSizes } from './data/split.ts';
export { channelStats, type ChannelStats } from './data/normalize.ts';
export { DIGIT_CLASSES, FASHION_MNIST_CLASSES, CIFAR10_CLASSES } from './data/classes.ts';
export { readInputFile, readPngAsInput, writePng, type InputShape } from './data/png.ts';
export { calibrateNetwork, paretoFront, chooseOperatingPoint, profileCosts, chooseThresholdsForAccuracy } from './calibrate/index.ts';
export type {
  CalibrationOutcome,
  CalibrationRequest,
  CostProfile,
  OperatingConstraint,
  OperatingPoint,
  ParetoPoint,
  PieceCost,
  StoredCalibration,
  AccuracyTargetChoice,
  ParetoOptions,
  ProfileOptions,
} from './calibrate/index.ts';
