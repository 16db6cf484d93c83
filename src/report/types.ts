/**
 * Everything a calibration report shows, as plain data: the report layer never runs a network or reads a
 * model, so a report can be rebuilt from a saved JSON of this shape.
 *
 * Units: accuracies and shares are fractions in [0, 1] (shown as percent); times and costs are milliseconds
 * per sample at batch 1 unless a field says otherwise.
 */
export interface CalibrationReportData {
  model: {
    name: string;
    description?: string;
    /** Number of exits, the final one included. */
    exits: number;
    classes: number;
    /** null when unknown (a network imported from ONNX). */
    params: number | null;
  };
  data: { source: string; validationCount: number; testCount: number };
  /** Exit criterion, e.g. `entropy`. */
  criterion: string;
  /** Engine the costs were measured on, e.g. `tfjs-wasm`. */
  runtime: string;
  machine: { cpu: string; cores: number; node: string; measuredAt: string };
  costProfile: {
    /** Stages and exit heads in network order (stage 1, exit 1, stage 2, …); `index` is 1-based. */
    pieces: CostPiece[];
    /** Cost per sample (ms, batch 1) to reach and evaluate exit n, at index n-1. */
    costToExit: number[];
  };
  /** Validation Pareto front, sorted by expected cost. */
  front: FrontPoint[];
  /** `index` points into `front`; `constraint` is how it was chosen, e.g. `max drop 0.2 points`. */
  chosen: { index: number; constraint: string };
  /** The final exit alone on the validation split; `cost` comes from the cost model (ms per sample). */
  baseline: { accuracy: number; cost: number };
  /** Accuracy of each exit on every validation sample, exit 1 first. */
  perExitAccuracy: number[];
  /** The test split at the chosen thresholds against the network without early exits, measured in one run. */
  test: {
    accuracy: number;
    /** Accuracy of the final exit alone. */
    finalAccuracy: number;
    exitShare: number[];
    /** Mean wall-clock time per sample at batch 1, with early exits. */
    earlyExitMeanMs: number;
    /** The same with every sample run to the final exit. */
    finalOnlyMeanMs: number;
    measuredSpeedup: number;
    /** What the cost model predicted for this split's exit shares. */
    predictedSpeedup: number;
  };
  /** Wall-clock time the whole calibration took. */
  calibrationSeconds: number;
}

/** One measured stage or exit head of the cost profile. */
export interface CostPiece {
  kind: 'stage' | 'exit';
  /** 1-based. */
  index: number;
  batch1MeanMs: number;
  batch1P95Ms: number;
  /** Mean per sample at `batchSize`. */
  batchedMeanMs: number;
  batchSize: number;
  /** null when unknown (a network imported from ONNX). */
  flops: number | null;
  params: number | null;
}

/** One operating point of the validation front. */
export interface FrontPoint {
  /** One per early exit (the final exit takes whatever is left). */
  thresholds: number[];
  accuracy: number;
  /** Expected cost per sample (ms, batch 1) under the cost model. */
  expectedCost: number;
  /** Share of samples leaving at each exit; sums to 1. */
  exitShare: number[];
}

/** The plots a report carries, by the stem of their file name. */
export type PlotName = 'pareto' | 'exit-share' | 'exit-accuracy' | 'cost-profile';

/** Every plot name, in the order the report shows them. */
export const PLOT_NAMES: readonly PlotName[] = ['pareto', 'exit-share', 'exit-accuracy', 'cost-profile'];

/** One rendered SVG document per plot. */
export type ReportSvgs = Record<PlotName, string>;
