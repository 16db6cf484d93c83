/** What one stage or exit head costs per sample on one engine, measured after warm-up. */
export interface PieceCost {
  /** `stage` or `exit`, 1-based index. */
  kind: 'stage' | 'exit';
  index: number;
  /**
   * Time per sample in milliseconds at batch 1: mean, median, 95th percentile, and the typical cost the cost
   * model uses, the median over blocks of 20 consecutive samples of each block's mean (GC and other amortised
   * costs stay in; a burst of load from other processes spoils a block, not the figure).
   */
  batch1: { meanMs: number; p50Ms: number; p95Ms: number; typicalMs: number };
  /** The same per sample at the profile's larger batch size; each timed batch is a block. */
  batched: { batchSize: number; meanMs: number; p50Ms: number; p95Ms: number; typicalMs: number };
  /** From the spec: FLOPs per sample and parameters; null when unknown (a network imported from ONNX). */
  flops: number | null;
  params: number | null;
}

/** The cost of every piece of a network on one machine and engine. */
export interface CostProfile {
  /** e.g. `tfjs-wasm`. */
  runtime: string;
  /** Where it was measured: CPU model, cores, Node version, date. */
  machine: { cpu: string; cores: number; node: string; measuredAt: string };
  pieces: PieceCost[];
  /**
   * Cost per sample (ms at batch 1) to reach and evaluate exit n (index n-1): stages 1..n, exit heads 1..n and
   * the criterion, as the runner pays it; from typical costs (see `PieceCost.batch1.typicalMs`).
   */
  costToExit: number[];
  /** The same at the batched size. */
  costToExitBatched: number[];
  /**
   * Cost per sample of the network without early exits: every stage and the final head only (no branch heads),
   * what the speed-up of early exit is measured against. At batch 1 and batched.
   */
  finalOnlyCost: number;
  finalOnlyCostBatched: number;
}

/** One operating point: a threshold vector with what it reaches on the exit table. */
export interface OperatingPoint {
  /** One per early exit. */
  thresholds: number[];
  accuracy: number;
  /** Expected cost per sample: Σ over exits of (share leaving there × cost to reach and evaluate it). */
  expectedCost: number;
  /** Share of samples leaving at each exit (sums to 1). */
  exitShare: number[];
}

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

/** What calibration stores in `branchy.json` under `calibration`: enough to report without re-running it. */
export interface StoredCalibration {
  criterion: string;
  /** The data set and split the thresholds were chosen on (always the validation split). */
  data: string;
  split: 'validation';
  validationCount: number;
  /** The constraint the chosen point meets, in words. */
  constraint: string;
  profile: CostProfile;
  /** The validation Pareto front, cheapest first. */
  front: OperatingPoint[];
  /** Index of the chosen point in `front`. */
  chosen: number;
  /** Each exit's accuracy on every validation sample. */
  perExitAccuracy: number[];
  /** Seconds for the all-exits pass and for the front search. */
  tableSeconds: number;
  searchSeconds: number;
}
