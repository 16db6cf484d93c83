import type { OperatingPoint } from '../io/stored-calibration.ts';

// The stored records are part of the model directory's format (io/), which `openModel` reads; calibration
// produces them and offers them here as its own.
export type { CostProfile, OperatingPoint, PieceCost, StoredCalibration, StoredCostProfile, StoredPieceCost } from '../io/stored-calibration.ts';

/** A point of the accuracy/cost Pareto front, with how it compares to sending every sample to the final exit. */
export interface ParetoPoint extends OperatingPoint {
  /** Final-exit-only cost / `expectedCost` (`Infinity` when this point costs nothing). */
  speedUp: number;
  /**
   * Final-exit-only accuracy minus `accuracy`, as a share of samples: 0.002 = 0.2 points lost; negative when the
   * early exits answer better than the final exit alone. Computed from counts, so it is exact for whole samples.
   */
  accuracyDrop: number;
}

/**
 * What an operating point must satisfy, one bound at a time. Accuracy bounds (`maxDrop`, `minAccuracy`) pick the
 * cheapest point that meets them; cost bounds (`targetSpeedup`, `maxCost`) the most accurate one.
 */
export type OperatingConstraint =
  /** Accuracy at most this share below the final-exit-only accuracy (0.005 = half a point). */
  | { maxDrop: number }
  /** Final-exit-only cost / expected cost at least this (e.g. 2 for twice as fast). */
  | { targetSpeedup: number }
  /** Expected cost per sample at most this, in the units of `costToExit`. */
  | { maxCost: number }
  /** Accuracy (share right) at least this. */
  | { minAccuracy: number };
