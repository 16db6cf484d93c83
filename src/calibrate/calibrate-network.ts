import type { LoadedNetwork } from '../engine/types.ts';
import type { ExitCriterion } from '../exit/index.ts';
import { allExitsOver, argmaxRow, type LabelledSamples } from '../infer/index.ts';
import { checkDataMatchesModel } from '../spec/data-match.ts';
import { profileCosts, type ProfileOptions } from './cost-profile.ts';
import { chooseGuardedPoint, isGuarded, type GuardedConstraint } from './guarded-choice.ts';
import { chooseOperatingPoint, paretoFront } from './pareto.ts';
import type { OperatingConstraint, ParetoPoint, StoredCalibration } from './types.ts';

/** Most points `branchy.json` keeps of a front; a large validation split can have thousands. */
export const STORED_FRONT_POINTS = 400;

/** What {@link calibrateNetwork} needs besides the network and the validation samples. */
export interface CalibrationRequest {
  criterion: ExitCriterion;
  /** A bound on the front (`OperatingConstraint`), or one meant to hold on new data (`GuardedConstraint`). */
  constraint: OperatingConstraint | GuardedConstraint;
  /** The constraint in words, stored with the result. */
  constraintText: string;
  /** Where the validation samples came from, stored with the result. */
  data: string;
  profile?: ProfileOptions;
  /** Calibrate on samples whose class names differ from the network's (their shape must still be its input's). */
  allowClassMismatch?: boolean;
}

/** The outcome of {@link calibrateNetwork}: what to store, and the full front with the chosen point. */
export interface CalibrationOutcome {
  calibration: StoredCalibration;
  front: ParetoPoint[];
  chosen: ParetoPoint;
}

/** The front thinned evenly to at most `STORED_FRONT_POINTS`, always keeping both ends and the chosen point. */
export function thinFront<T>(front: T[], chosen: T): T[] {
  if (front.length <= STORED_FRONT_POINTS) return front;
  const step = front.length / (STORED_FRONT_POINTS - 2);
  const keep = new Set<T>([front[0], front[front.length - 1], chosen]);
  for (let x = 0; x < front.length; x += step) keep.add(front[Math.floor(x)]);
  return front.filter((p) => keep.has(p));
}

/**
 * Calibrates a network on validation samples: profiles what each stage and exit head costs here, runs every exit on
 * every sample, finds the exact accuracy/cost Pareto front of threshold vectors and picks the point the constraint
 * asks for. The caller stores `calibration` (e.g. under `calibration` in `branchy.json`) and the chosen thresholds.
 *
 * @throws BranchyDataError `DATA_MODEL_MISMATCH`, before anything is measured, when the samples' shape or (unless
 *   `allowClassMismatch`) their class names and order differ from the network's: thresholds chosen on another
 *   data set would be stored as if they held for this one.
 */
export async function calibrateNetwork(net: LoadedNetwork, validation: LabelledSamples, request: CalibrationRequest): Promise<CalibrationOutcome> {
  checkDataMatchesModel(net.spec, validation, { data: request.data, allowClassMismatch: request.allowClassMismatch });
  const { criterion } = request;
  const profile = await profileCosts(net, validation, request.profile);
  let started = performance.now();
  const table = await allExitsOver(net, validation);
  const tableSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const front = paretoFront(table, validation.y, criterion, profile.costToExit, { baselineCost: profile.finalOnlyCost });
  const constraint = request.constraint;
  const chosen = isGuarded(constraint) ? chooseGuardedPoint(front, table, validation.y, criterion, constraint).point : chooseOperatingPoint(front, constraint);
  const searchSeconds = (performance.now() - started) / 1000;
  const perExitAccuracy = table.probs.map((p) => {
    let right = 0;
    for (let i = 0; i < table.count; i++) if (argmaxRow(p, i * table.classes, table.classes) === validation.y[i]) right++;
    return right / table.count;
  });
  const stored = thinFront(front, chosen);
  const calibration: StoredCalibration = {
    criterion: criterion.name,
    data: request.data,
    split: 'validation',
    validationCount: validation.count,
    constraint: request.constraintText,
    profile,
    front: stored,
    chosen: stored.indexOf(chosen),
    perExitAccuracy,
    tableSeconds,
    searchSeconds,
  };
  return { calibration, front, chosen };
}
