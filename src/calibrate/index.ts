export { chooseThresholdsForAccuracy, type AccuracyTargetChoice } from './accuracy-target.ts';
export {
  chooseGuardedPoint,
  guardedFigure,
  isGuarded,
  lossCount,
  rateLowerBound,
  rateUpperBound,
  scoreTable,
  type GuardedConstraint,
  type ScoredTable,
  type LossCount,
} from './guarded-choice.ts';
export { paretoFront, chooseOperatingPoint, type ParetoOptions, type ParetoStats } from './pareto.ts';
export { profileCosts, type ProfileOptions } from './cost-profile.ts';
export { calibrateNetwork, STORED_FRONT_POINTS, thinFront, type CalibrationOutcome, type CalibrationRequest } from './calibrate-network.ts';
export type {
  CostProfile,
  OperatingConstraint,
  OperatingPoint,
  ParetoPoint,
  PieceCost,
  StoredCalibration,
  StoredCostProfile,
  StoredPieceCost,
} from './types.ts';
