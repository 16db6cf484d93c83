/**
 * branchy's browser-safe entry: network specs, exit criteria, the early-exit runner, the tfjs and onnxruntime
 * engines (tfjs loads on first use; give `ortEngine` the onnxruntime module of your platform) and the tensor
 * frame, and what a deployment unit needs in a page (the unit runner, features and answer frames, the circuit
 * breaker, the edge page's contract). Model directories, data sets, calibration and opening models are in
 * `branchy/node`; training in `branchy/train`; the HTTP server in `branchy/serve`; units on servers in
 * `branchy/cascade`.
 *
 * @module
 */
export * from './common/errors.ts';
export type * from './spec/types.ts';
export { SPEC_MAX_DEPTH, validateSpec } from './spec/validate.ts';
export { MAX_SPEC_SIZE, networkFacts, type NetworkFacts, type LayerFacts } from './spec/shapes.ts';
export {
  checkDataMatchesModel,
  checkSplitsMatchModel,
  dataModelMismatch,
  type DataFace,
  type DataMatchOptions,
  type DataMismatch,
  type ModelInputFace,
  type SplitFaces,
} from './spec/data-match.ts';
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
export { runUnit, type UnitRun } from './cascade/run-unit.ts';
export { encodeFeatures, decodeFeatures, featureBytes } from './cascade/feature-codec.ts';
export { encodeAnswers, decodeAnswers } from './cascade/answer-frame.ts';
export { CircuitBreaker, type BreakerOptions, type BreakerState } from './cascade/breaker.ts';
export { fetchTransport } from './cascade/fetch-transport.ts';
export { BranchyCascadeError, CascadeHopError, type CascadeErrorCode } from './cascade/errors.ts';
export { decodeSampleBatch, sampleBatchFits, type SampleBatch } from './cascade/sample-batch.ts';
export { WEB_ROUTES, EDGE_PAGE_FORMAT, type EdgePageConfig } from './cascade/web-config.ts';
export { FEATURE_DTYPES, FROM_HEADER, ERROR_HEADER } from './cascade/types.ts';
export type { CascadeRoute, DeploymentPlan, FeatureDtype, FeaturesMeta, ForwardMode, HopTiming, Transport, UnitPlan } from './cascade/types.ts';
