export { chooseThresholdsForAccuracy, type AccuracyTargetChoice } from './accuracy-target.ts';
export { paretoFront, chooseOperatingPoint, type ParetoOptions, type ParetoStats } from './pareto.ts';
export { profileCosts, type ProfileOptions } from './cost-profile.ts';
export type { CostProfile, OperatingConstraint, OperatingPoint, ParetoPoint, PieceCost, StoredCalibration } from './types.ts';
