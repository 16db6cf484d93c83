/**
 * What the planner needs of a model directory and a tiers file: the stored calibration's front, and each tier's
 * costs from its profile (or the model's own), scaled by its speed factor, with the routes between tiers.
 *
 * @module
 */
import { dirname, resolve } from 'node:path';
import type { StoredCalibration } from '../calibrate/types.ts';
import type { LoadedModelDir } from '../io/model-dir.ts';
import { readStoredCalibration } from '../io/stored-calibration.ts';
import { measureCodecCost, type CodecCost } from './codec-cost.ts';
import { tierCosts, type CostModelOptions, type TierQuota } from './cost-model.ts';
import { BranchyCascadeError } from './errors.ts';
import { modelIdOf } from './plan.ts';
import type { PlannerInput } from './planner.ts';
import { readTierProfile } from './tier-profile.ts';
import { readTiersFile, routeBetween, type TiersFile } from './tiers.ts';

/** Where one tier's costs came from, for the planner's report. */
export interface TierSource {
  name: string;
  /** The profile file, or `model` for the model's stored calibration profile. */
  profile: string;
  /** The runtime and machine it was measured on. */
  measuredOn: string;
  speedFactor: number;
  /** `profile` when the frame costs came with the profile, `measured here` when they were measured now. */
  codec: 'profile' | 'measured here';
  /** The per-request cost from the profile (ms, JSON and binary, at the profile's machine), or none: charged 0. */
  request?: {
    json: number;
    frame: number;
    requests: number;
    gapMs: number;
    /** The engine's extra time after idling and the batching wait's lateness, when the profile measured them. */
    idleMs?: number;
    waitLateMs?: number;
  };
  /** The tier's CPU quota, when the tiers file states one. */
  quota?: TierQuota;
}

/** A planner input read from a model directory and a tiers file. */
export interface PlacementSetup {
  input: PlannerInput;
  calibration: StoredCalibration;
  tiersFile: TiersFile;
  sources: TierSource[];
}

/**
 * Reads what planning `model` on the tiers of `tiersPath` needs: the model's stored calibration (its front and
 * final-exit accuracy), each tier's profile (relative to the tiers file; the model's own profile when a tier names
 * none) divided by its speed factor, and the routes between tiers. Frame costs come from the tier profile; a tier
 * using the model's profile gets frame costs measured on this machine once. The per-request cost comes from the
 * tier profile too; a tier without one (the model's profile, or a profile written before it was measured) is
 * charged none, which `sources` says.
 *
 * @throws BranchyCascadeError `CASCADE_NOT_CALIBRATED` when the model has no stored calibration;
 *   BranchyTiersError `CASCADE_BAD_TIERS`, `CASCADE_BAD_PROFILE`; `CASCADE_PROFILE_MISMATCH` for a profile of
 *   another network; BranchyIoError `MODEL_BAD_CALIBRATION` for a malformed stored calibration.
 */
export function placementSetup(model: LoadedModelDir, tiersPath: string, options: CostModelOptions = {}): PlacementSetup {
  const calibration = readStoredCalibration(model.manifest, model.dir);
  if (calibration === undefined) {
    throw new BranchyCascadeError(
      'CASCADE_NOT_CALIBRATED',
      `'${model.dir}' has no stored calibration; the planner needs its Pareto front and exit shares. Run 'branchy calibrate ${model.dir}' first.`,
    );
  }
  const tiersFile = readTiersFile(tiersPath);
  const spec = model.spec;
  let here: CodecCost | undefined;
  const measuredHere = () => (here ??= measureCodecCost({ classes: spec.classes.length }));
  const sources: TierSource[] = [];
  const tiers = tiersFile.tiers.map((tier) => {
    const speedFactor = tier.speedFactor ?? 1;
    const file = tier.profile === undefined ? undefined : resolve(dirname(tiersPath), tier.profile);
    const measured = file === undefined ? undefined : readTierProfile(file, spec);
    const profile = measured?.profile ?? calibration.profile;
    const request = measured?.request;
    sources.push({
      name: tier.name,
      profile: tier.profile ?? 'model',
      measuredOn: `${profile.runtime} on ${profile.machine.cpu} (${profile.machine.cores} cores, ${profile.machine.measuredAt.slice(0, 10)})`,
      speedFactor,
      codec: measured ? 'profile' : 'measured here',
      ...(request
        ? {
            request: {
              json: request.json.overheadMs,
              frame: request.frame.overheadMs,
              requests: request.method.requests,
              gapMs: request.method.gapMs,
              ...(request.idle ? { idleMs: request.idle.extraMs } : {}),
              ...(request.wait ? { waitLateMs: request.wait.lateMs } : {}),
            },
          }
        : {}),
      ...(tier.quota ? { quota: tier.quota } : {}),
    });
    return tierCosts(tier.name, profile, measured?.codec ?? measuredHere(), { speedFactor, power: tier.power, request, quota: tier.quota });
  });
  const names = tiers.map((t) => t.name);
  const final = calibration.perExitAccuracy[calibration.perExitAccuracy.length - 1];
  const input: PlannerInput = {
    spec,
    modelId: modelIdOf(model.manifest),
    front: calibration.front,
    finalAccuracy: final,
    validationCount: calibration.validationCount,
    tiers,
    route: (from, to) => routeBetween(tiersFile, names[from], names[to]),
    options,
  };
  return { input, calibration, tiersFile, sources };
}
