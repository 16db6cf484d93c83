/**
 * A shared successor's directory: the successor network, its fronts' adapters under `adapters/<front>/` (each an
 * ordinary model directory), and in `branchy.json` the field `shared` that records every front.
 *
 * @module
 */
import { BranchyIoError } from '../common/errors.ts';
import { readManifest } from './model-dir.ts';

/** Where a successor directory keeps its fronts' adapters: `adapters/<front name>/`, each a model directory. */
export const ADAPTERS_DIR = 'adapters';

/** One front of a shared successor, as the successor's `branchy.json` records it (field `shared.fronts`). */
export interface SharedFront {
  /** The front's name (its unit's name in a deployment). */
  name: string;
  /** The front's model directory as given, and its model id (spec and weight checksums) when the adapter learnt. */
  dir: string;
  modelId: string;
  /** The front's last stage before the adapter: its exits 1..cut answer first. */
  cut: number;
  /** The front's classes and, for each, its index among the successor's classes. */
  classes: string[];
  classMap: number[];
  /** Per-sample shape of the front's features at the cut (the adapter's input). */
  featureShape: number[];
  /** The adapter's model directory, relative to the successor's. */
  adapter: string;
  /** The data the adapter learnt on. */
  data: string;
  /** `successor`: trained with the successor; `attach`: attached later to the frozen successor. */
  mode: 'successor' | 'attach';
  /** The front's exit policy on its path: thresholds of its exits 1..cut and of the successor's early exits. */
  policy: { criterion: string; thresholds: number[] };
  /** The choice of thresholds on the front's validation split, counting the successor's answers. */
  calibration: { split: 'validation'; maxDrop: number; accuracy: number; finalAccuracy: number; exitShare: number[] };
  /** Test-split figures: the front's own final exit, the path with early exits, and the path's final (successor) exit. */
  test: { samples: number; frontAlone: number; withSuccessor: number; successorOnly: number; exitShare: number[] };
  /**
   * The path's calibrated accuracy/cost Pareto front on the same validation split, the successor's answers
   * counted: what a front unit holding a latency SLO moves along (`branchy unit --slo-ms`). Absent in directories
   * written before shared plans carried it.
   */
  front?: SharedPathFront;
  /**
   * The same, for a deployment that answers in the union of classes (`branchy split --answers union`): the
   * successor's answer is its argmax over every class it knows, so a sample may get another front's class; the
   * thresholds are chosen counting that. Absent in directories written before union answers were offered.
   */
  union?: Pick<SharedFront, 'policy' | 'calibration' | 'test' | 'front'>;
}

/**
 * One front's path (its exits 1..cut, then the successor's) as a calibrated Pareto front: every threshold vector no
 * other beats on both validation accuracy and expected cost, cheapest first, thinned as `branchy calibrate` thins.
 */
export interface SharedPathFront {
  criterion: string;
  /** Where the costs were measured: the training engine (`tfjs-wasm`, …) on this machine, ms per sample at batch 1. */
  runtime: string;
  /** Cost per sample of answering at each exit of the path, final last (the front's exits, then the successor's). */
  costToExit: number[];
  points: { thresholds: number[]; accuracy: number; expectedCost: number; exitShare: number[] }[];
  /**
   * The point the front starts at: the one with the front's thresholds (`policy`) when the front holds them, else
   * the cheapest at least as accurate on the validation split.
   */
  chosen: number;
}

/**
 * The class space a shared path answers in: `front`, the front's own classes (the successor's probabilities over
 * them, renormalised); `union`, the successor's classes (the front's exits' answers mapped into them).
 */
export type SharedAnswers = 'front' | 'union';
/** The answer spaces, as written in plans and on the command line. */
export const SHARED_ANSWERS: readonly SharedAnswers[] = ['front', 'union'];

/** The `shared` field of a successor's `branchy.json`. */
export interface SharedSuccessorInfo {
  format: 'branchy-shared/1';
  /** The common feature shape every adapter outputs and the successor takes. */
  commonShape: number[];
  fronts: SharedFront[];
}

/**
 * A successor directory's `shared` field, checked.
 *
 * @throws BranchyIoError `MODEL_NOT_A_SUCCESSOR` for a model directory without one; `readManifest`'s errors.
 */
export function readSharedInfo(dir: string): SharedSuccessorInfo {
  const manifest = readManifest(dir);
  const info = manifest.shared as SharedSuccessorInfo | undefined;
  if (typeof info !== 'object' || info === null || info.format !== 'branchy-shared/1' || !Array.isArray(info.fronts)) {
    throw new BranchyIoError(
      'MODEL_NOT_A_SUCCESSOR',
      `'${dir}' is not a shared successor: its branchy.json has no 'shared' field of format "branchy-shared/1"; write one with 'branchy train-successor'.`,
    );
  }
  return info;
}
