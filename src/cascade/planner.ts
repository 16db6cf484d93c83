/**
 * The placement planner: where to cut a calibrated network, which tier each unit goes on, whether units hand on
 * features or the raw input, and which operating point of the stored Pareto front to use, by exact enumeration.
 *
 * A candidate is a placement (a set of cut points and an increasing chain of tiers, the first unit always on the
 * first tier, where the input arrives) × a forwarding mode (`features` or `input`) × a point of the front. For N
 * stages and T tiers there are C(N+T−2, T−1) − 1 placements (Σₘ C(N−1, m−1) · C(T−1, m−1) over m = 2..min(N, T)
 * units), so 2 · F · (C(N+T−2, T−1) − 1) candidates for F front points (at most 400 are stored): 4·F for B-LeNet
 * (2 stages) on 3 tiers, 10·F for B-ResNet-20 (3 stages). Each costs O(N²) to evaluate. The whole network on the
 * first tier is evaluated too, F more rows, as a reference: it is not a plan `branchy unit` runs.
 *
 * The enumeration is exact over the stored front. It stops being exact where the front does: the stored front is
 * thinned to 400 points, and it is the Pareto front for the calibrating machine's per-exit costs. With one early
 * exit every cost that grows from exit to exit ranks the same threshold vectors, so nothing is lost; with more,
 * a threshold vector off that front could be better under a placement's per-exit costs.
 *
 * @module
 */
import type { OperatingPoint } from '../calibrate/types.ts';
import type { LoadedModelDir } from '../io/model-dir.ts';
import { networkFacts } from '../spec/shapes.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { placementFigures, type CostModelOptions, type HopLink, type PlacementFigures, type TierCosts } from './cost-model.ts';
import { BranchyCascadeError } from './errors.ts';
import { splitModel, writePlan } from './plan.ts';
import type { DeploymentPlan, ForwardMode, PlanObjective, PlanPlacement } from './types.ts';

/** An accuracy bound on the chosen point: at most `maxDrop` (a share) below the final exit's validation accuracy, or at least `minAccuracy`. */
export type PlanConstraint = { maxDrop: number } | { minAccuracy: number };

/** What the planner plans from. */
export interface PlannerInput {
  /** The whole network, as it will be split. */
  spec: NetworkSpec;
  /** Its model id (every frame carries it, so it counts in the frames' size). */
  modelId: string;
  /** The stored validation Pareto front: thresholds, accuracy and share leaving at each exit per point. */
  front: readonly OperatingPoint[];
  /** The final exit's validation accuracy (what `maxDrop` is measured from) and the validation set's size. */
  finalAccuracy: number;
  validationCount: number;
  /** The tiers, from where the input arrives outwards. */
  tiers: readonly TierCosts[];
  /** The route from tier `from` to tier `to` (indices into `tiers`, `from < to`), or none when they cannot reach each other. */
  route(from: number, to: number): HopLink | undefined;
  options?: CostModelOptions;
}

/** One candidate: a placement, a forwarding mode and an operating point, with its expected figures. */
export interface PlanCandidate {
  /** 1-based, in enumeration order. */
  id: number;
  /** The last stage of every unit but the last; empty for the reference (the whole network on the first tier). */
  cuts: number[];
  /** The tier of each unit. */
  tiers: string[];
  /** `none` for the reference. */
  forward: ForwardMode | 'none';
  /** The index of the operating point on the front. */
  point: number;
  thresholds: number[];
  accuracy: number;
  exitShare: number[];
  figures: PlacementFigures;
  /** Whether the operating point meets the accuracy constraint. */
  meets: boolean;
  /** The whole network on the first tier: shown for comparison, never chosen. */
  reference: boolean;
}

/** How the candidates were enumerated. */
export interface PlannerResult {
  candidates: PlanCandidate[];
  /** Placements (cut points × tier chains) evaluated, and those skipped: no route between two of their tiers, or a cut whose features are no feature map. */
  placements: number;
  skipped: { cuts: number[]; tiers: string[]; reason: string }[];
}

/** n choose k. */
function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return Math.round(c);
}

/** The number of placements of a network of `depth` stages on `tiers` tiers: C(N+T−2, T−1) − 1. */
export function placementCount(depth: number, tiers: number): number {
  return choose(depth + tiers - 2, tiers - 1) - 1;
}

/** The ascending subsets of `pool` of size `k`. */
function subsets(pool: readonly number[], k: number): number[][] {
  if (k === 0) return [[]];
  const out: number[][] = [];
  for (let i = 0; i <= pool.length - k; i++) for (const rest of subsets(pool.slice(i + 1), k - 1)) out.push([pool[i], ...rest]);
  return out;
}

/**
 * Every placement of `depth` stages on `tiers` tiers: m = 2..min(depth, tiers) units, m−1 ascending cut points out
 * of stages 1..depth−1, and tier 0 followed by m−1 ascending tiers out of 1..tiers−1.
 */
export function enumeratePlacements(depth: number, tiers: number): { cuts: number[]; tiers: number[] }[] {
  const out: { cuts: number[]; tiers: number[] }[] = [];
  const stages = Array.from({ length: depth - 1 }, (_, i) => i + 1);
  const later = Array.from({ length: tiers - 1 }, (_, i) => i + 1);
  for (let m = 2; m <= Math.min(depth, tiers); m++)
    for (const cuts of subsets(stages, m - 1)) for (const chain of subsets(later, m - 1)) out.push({ cuts, tiers: [0, ...chain] });
  return out;
}

/** Whether an operating point meets the constraint, judged on whole validation samples. */
export function meetsConstraint(accuracy: number, constraint: PlanConstraint, finalAccuracy: number, validationCount: number): boolean {
  const right = Math.round(accuracy * validationCount);
  if ('maxDrop' in constraint) return Math.round(finalAccuracy * validationCount) - right <= Math.floor(constraint.maxDrop * validationCount + 1e-9);
  return right >= Math.ceil(constraint.minAccuracy * validationCount - 1e-9);
}

/**
 * Enumerates every candidate (and the reference rows) and its expected figures, with whether its point meets the
 * constraint.
 *
 * @throws BranchyCascadeError `CASCADE_NO_PLACEMENT` when no placement is possible: fewer than 2 stages or
 *   tiers, no route from the first tier, or no cut whose features a unit can take.
 */
export function planCandidates(input: PlannerInput, constraint: PlanConstraint): PlannerResult {
  const { spec, modelId, front, tiers, options } = input;
  const depth = spec.stages.length;
  const facts = networkFacts(spec);
  const candidates: PlanCandidate[] = [];
  const skipped: PlannerResult['skipped'] = [];
  let placements = 0;
  const add = (cuts: number[], chain: number[], forward: ForwardMode | 'none', hops: HopLink[]) => {
    front.forEach((p, point) => {
      const figures = placementFigures(
        spec,
        modelId,
        { cuts, tiers: chain.map((t) => tiers[t]), hops, forward: forward === 'none' ? 'features' : forward },
        p,
        options,
      );
      candidates.push({
        id: candidates.length + 1,
        cuts,
        tiers: chain.map((t) => tiers[t].name),
        forward,
        point,
        thresholds: [...p.thresholds],
        accuracy: p.accuracy,
        exitShare: [...p.exitShare],
        figures,
        meets: meetsConstraint(p.accuracy, constraint, input.finalAccuracy, input.validationCount),
        reference: forward === 'none',
      });
    });
  };
  for (const { cuts, tiers: chain } of enumeratePlacements(depth, tiers.length)) {
    const names = chain.map((t) => tiers[t].name);
    const hops = chain.slice(1).map((t, i) => input.route(chain[i], t));
    const missing = hops.findIndex((h) => h === undefined);
    if (missing >= 0) {
      skipped.push({ cuts, tiers: names, reason: `no route from ${names[missing]} to ${names[missing + 1]}` });
      continue;
    }
    placements++;
    for (const forward of ['features', 'input'] as const) {
      const flat = cuts.find((c) => facts.stages[c - 1].output.length !== 3);
      if (forward === 'features' && flat !== undefined) {
        skipped.push({ cuts, tiers: names, reason: `stage ${flat}'s features are not a feature map: forward the input` });
        continue;
      }
      add(cuts, chain, forward, hops as HopLink[]);
    }
  }
  if (candidates.length === 0) {
    throw new BranchyCascadeError(
      'CASCADE_NO_PLACEMENT',
      depth < 2 || tiers.length < 2
        ? `'${spec.name}' has ${depth} stage${depth === 1 ? '' : 's'} and there ${tiers.length === 1 ? 'is 1 tier' : `are ${tiers.length} tiers`}; a placement needs at least 2 of each.`
        : `no placement of '${spec.name}' is possible: ${skipped.map((s) => `[${s.tiers.join(' → ')}] ${s.reason}`).join('; ')}.`,
    );
  }
  add([], [0], 'none', []);
  return { candidates, placements, skipped };
}

/** The value a candidate is judged by: mean latency (ms), the first tier's energy (mJ) or bytes sent per sample. */
export function objectiveValue(candidate: PlanCandidate, objective: PlanObjective): number {
  const f = candidate.figures;
  return objective === 'latency' ? f.latencyMeanMs : objective === 'energy' ? f.deviceEnergyMj : f.sentBytes;
}

/** Orders candidates by the objective, then by accuracy (higher first), mean latency and enumeration order. */
export function compareCandidates(objective: PlanObjective): (a: PlanCandidate, b: PlanCandidate) => number {
  return (a, b) =>
    objectiveValue(a, objective) - objectiveValue(b, objective) || b.accuracy - a.accuracy || a.figures.latencyMeanMs - b.figures.latencyMeanMs || a.id - b.id;
}

/**
 * The best candidate that meets the constraint by the objective (ties: more accurate, then faster, then first
 * enumerated); the reference rows are never chosen.
 *
 * @throws BranchyCascadeError `CASCADE_PLAN_IMPOSSIBLE` when no point of the front meets the constraint, naming
 *   the most accurate one.
 */
export function bestCandidate(candidates: readonly PlanCandidate[], objective: PlanObjective): PlanCandidate {
  const plans = candidates.filter((c) => !c.reference);
  const feasible = plans.filter((c) => c.meets);
  if (feasible.length === 0) {
    const best = plans.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
    throw new BranchyCascadeError(
      'CASCADE_PLAN_IMPOSSIBLE',
      `no operating point on the front meets the accuracy constraint; the most accurate reaches ${(100 * best.accuracy).toFixed(2)}% on the validation split (thresholds [${best.thresholds.map((t) => +t.toPrecision(4)).join(', ')}]).`,
    );
  }
  return [...feasible].sort(compareCandidates(objective))[0];
}

/** What the written plan records about where its units go and why. */
export interface PlacementRecord {
  objective: PlanObjective;
  /** The constraint in words. */
  constraint: string;
  /** The criterion the front's thresholds are for (default: the model's). */
  criterion?: string;
  options?: CostModelOptions;
}

/**
 * Writes the chosen candidate as a plan directory `branchy unit` runs: the model split at its cut points, one unit
 * per tier named after it, forwarding as the candidate does, with the candidate's thresholds as the plan's exit
 * policy (the first unit's predict default) and a `placement` record of the tiers and the expected figures.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_CUT` as `splitModel`; `CASCADE_NO_PLACEMENT` for a reference row.
 */
export function writePlacementPlan(out: string, model: LoadedModelDir, candidate: PlanCandidate, record: PlacementRecord): DeploymentPlan {
  if (candidate.forward === 'none') {
    throw new BranchyCascadeError(
      'CASCADE_NO_PLACEMENT',
      `candidate ${candidate.id} runs the whole network on ${candidate.tiers[0]}; it is not a plan of units.`,
    );
  }
  const spec: NetworkSpec = { ...model.spec, policy: { criterion: record.criterion ?? model.spec.policy.criterion, thresholds: [...candidate.thresholds] } };
  const split = splitModel({ ...model, spec }, { at: candidate.cuts, names: candidate.tiers, forward: candidate.forward });
  const f = candidate.figures;
  const placement: PlanPlacement = {
    tiers: [...candidate.tiers],
    objective: record.objective,
    constraint: record.constraint,
    featureDtype: record.options?.featureDtype ?? 'f32',
    maxWaitMs: record.options?.maxWaitMs ?? 0,
    accuracy: candidate.accuracy,
    exitShare: [...candidate.exitShare],
    expected: {
      latencyP50Ms: f.latencyP50Ms,
      latencyMeanMs: f.latencyMeanMs,
      deviceEnergyMj: Number.isNaN(f.deviceEnergyMj) ? null : f.deviceEnergyMj,
      sentBytes: f.sentBytes,
      throughputPerS: f.throughputPerS,
    },
  };
  return writePlan(out, { plan: { ...split.plan, placement }, units: split.units });
}

/** `device:1 → edge:2`: each unit's tier and the stages it runs. */
export function unitsOf(c: PlanCandidate, depth: number): string {
  const bounds = [0, ...c.cuts, depth];
  return c.tiers
    .map((tier, i) => {
      const from = c.forward === 'input' ? 1 : bounds[i] + 1;
      const last = bounds[i + 1];
      return `${tier}:${from === last ? from : `${from}-${last}`}`;
    })
    .join(' → ');
}
