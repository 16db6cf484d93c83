export { chooseThresholdsForAccuracy, type AccuracyTargetChoice } from './accuracy-target.ts';
