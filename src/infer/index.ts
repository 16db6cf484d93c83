export type { ExitResult, RunResult, RunTiming } from './types.ts';
export { runEarlyExit, resolvePolicy, type EarlyExitOptions } from './runner.ts';
export { argmaxRow } from './argmax.ts';
export { runAllExits, concatAllExits, type AllExitsResult } from './all-exits.ts';
export {
  allExitsOver,
  allExitsInBatches,
  evaluateExits,
  measureLatency,
  type ExitEvaluation,
  type LabelledSamples,
  type LatencyMeasurement,
} from './evaluate.ts';
export { measureModel, timeAlternating, type LatencyContender, type ModelReport } from './compare-latency.ts';
export {
  frontFeatures,
  runSharedPathAllExits,
  sharedPathAllExitsOver,
  sharedPathNetwork,
  successorAnswers,
  toFrontClasses,
  toUnionClasses,
  inUnionClasses,
  type SharedPath,
} from './shared-path.ts';
