/**
 * branchy's browser-safe entry: network specs, exit criteria, the early-exit runner, the tfjs and onnxruntime
 * engines (tfjs loads on first use; give `ortEngine` the onnxruntime module of your platform) and the tensor
 * frame. Model directories, data sets, calibration and opening models are in `branchy/node`; training in
 * `branchy/train`; the HTTP server in `branchy/serve`.
 *
 * @module
 */
export * from './common/errors.ts';
export type * from './spec/types.ts';
export { validateSpec } from './spec/validate.ts';
export { networkFacts, type NetworkFacts, type LayerFacts } from './spec/shapes.ts';
export type { Batch, Engine, EngineName, LoadedNetwork, ModelSource, OnnxSource, StageAndExit } from './engine/types.ts';
export { tfjsEngine, useBackend, TFJS_BACKENDS, type TfjsBackend } from './engine/tfjs/index.ts';
export { ortEngine, exportNetwork, type OrtModule, type OrtNetwork, type OrtSessionOptions, type CarryMode, type OnnxPieces } from './engine/ort/index.ts';
export {
  getCriterion,
  registerCriterion,
  listCriteria,
  parseThresholds,
  broadcastThresholds,
  validateThresholds,
  firstPassingExit,
  type ExitCriterion,
} from './exit/index.ts';
export { runEarlyExit, runAllExits, evaluateExits, measureLatency, measureModel } from './infer/index.ts';
export type {
  EarlyExitOptions,
  ExitResult,
  RunResult,
  RunTiming,
  AllExitsResult,
  ExitEvaluation,
  LabelledSamples,
  LatencyMeasurement,
  ModelReport,
} from './infer/index.ts';
export {
  encodeFrame,
  decodeFrame,
  frameByteLength,
  FRAME_DTYPES,
  type TensorEntry,
  type TensorLayout,
  type FrameDtype,
  type FrameData,
  type DecodedFrame,
} from './io/frame.ts';
export { listZoo, zooModel, type ZooEntry, type ZooOptions } from './zoo/index.ts';
