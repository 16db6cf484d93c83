import { calibrateNetwork } from '../calibrate/index.ts';
import type { Dataset } from '../data/index.ts';
import type { TfjsBackend } from '../engine/tfjs/index.ts';
import { getCriterion } from '../exit/index.ts';
import { updateManifest } from '../io/index.ts';
import { openModel } from '../open/open-model.ts';

/** How {@link calibrateModelDir} chooses and stores thresholds. */
export interface DirCalibration {
  engine: 'tfjs' | 'ort';
  backend: TfjsBackend;
  /** Largest validation accuracy loss (a share) against the final exit. */
  maxDrop: number;
  /** Description of the validation samples, stored with the calibration. */
  data: string;
  /** Samples timed one at a time for the cost profile. */
  profileSamples: number;
}

/**
 * Calibrates a trained model directory on its validation samples (the cheapest point of the exact Pareto front within
 * `maxDrop` of the final exit) and stores the thresholds and the calibration in its `branchy.json`, as
 * `branchy calibrate --max-drop` does. `reproduce` and `demo --train` end with it.
 */
export async function calibrateModelDir(dir: string, validation: Dataset, options: DirCalibration) {
  const constraintText = `validation accuracy at most ${(100 * options.maxDrop).toFixed(2)} points below the final exit's`;
  const opened = await openModel(dir, { engine: options.engine, backend: options.backend });
  try {
    const { calibration, chosen } = await calibrateNetwork(opened.net, validation, {
      criterion: getCriterion(opened.model.spec.policy.criterion),
      constraint: { maxDrop: options.maxDrop },
      constraintText,
      data: options.data,
      profile: { batch1Samples: options.profileSamples },
    });
    updateManifest(dir, (m) => ({ ...m, spec: { ...m.spec, policy: { ...m.spec.policy, thresholds: chosen.thresholds } }, calibration }));
    return { calibration, chosen, constraintText };
  } finally {
    opened.net.dispose();
  }
}
