/**
 * Deployment plans of a shared successor: several front units, each a front-end's stages and exits up to its cut
 * with its adapter, all handing on to one successor unit. A front unit is an ordinary unit of a two-unit chain
 * (front → successor) whose frames carry the common feature shape; the successor unit takes the frames of every
 * front, tells them apart by the path id they carry (the front's, its adapter's and the successor's model ids),
 * micro-batches them together and answers each in its front's own class space, or, when the plan says so, every
 * front in the union of classes.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportNetwork, ONNX_OPSET } from '../engine/ort/index.ts';
import { loadModelDir, modelIdOf, saveModelDir, saveOnnxFiles, writeFileAtomic } from '../io/model-dir.ts';
import { readSharedInfo, SHARED_ANSWERS, type SharedAnswers } from '../io/shared-successor.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { validateSpec } from '../spec/validate.ts';
import { BranchyCascadeError } from './errors.ts';
import { checkPlanDepth, checkPlanFront, PLAN_FILE, renamedWeights, UNIT_NAME_PATTERN } from './plan.ts';
import type { DeploymentPlan, PlanFront, UnitPlan } from './types.ts';

/** `plan.json`'s format of a shared successor's plan. */
export const SHARED_PLAN_FORMAT = 'branchy-shared-plan/1';
/** The directory, inside a front unit's, of its adapter. */
export const ADAPTER_UNIT_DIR = 'adapter';

/** One front of a shared plan. */
export interface SharedFrontPlan {
  /** The front unit's name (its directory, and its predict route's model name). */
  name: string;
  /** The front network's name and model id. */
  network: string;
  frontModelId: string;
  /** What the front's frames carry as `modelId`: a hash of the front's, its adapter's and the successor's ids. */
  pathId: string;
  /** The front's last stage: its exits 1..cut answer first; the adapter takes stage cut's features. */
  cut: number;
  /** The front's raw input shape. */
  inputShape: number[];
  /** The front's classes and, for each, its index among the successor's. */
  classes: string[];
  classMap: number[];
  /**
   * Its thresholds (its exits 1..cut, then the successor's early exits), chosen counting the successor's answers
   * in the plan's class space (`answers`).
   */
  policy: { criterion: string; thresholds: number[] };
  /**
   * The path's calibrated Pareto front in the plan's class space, chosen where its thresholds were: what the front
   * unit moves along when it holds a latency SLO (`branchy unit --slo-ms`). Absent for a front trained before
   * shared successors stored one.
   */
  front?: PlanFront;
}

/** `plan.json` of a shared successor's deployment. */
export interface SharedDeploymentPlan {
  format: typeof SHARED_PLAN_FORMAT;
  /** The successor network's name. */
  model: string;
  /** The successor's model id. */
  modelId: string;
  /** 12 hex digits of a hash of every path id. */
  id: string;
  /**
   * The class space every answer is in: `front` (each front's own classes; the default, and what a plan without
   * the field means) or `union` (the successor's classes, for every front).
   */
  answers: SharedAnswers;
  successor: { name: string; inputShape: number[]; classes: string[]; stages: number };
  fronts: SharedFrontPlan[];
}

/** A unit of a shared plan as the cascade runs it: a chain plan seen from that unit, and what it adds. */
export interface SharedUnitView {
  /** The plan of the unit's chain: for a front, front → successor; for the successor, the first front's chain. */
  plan: DeploymentPlan;
  unit: UnitPlan;
  /** The unit's model directory. */
  dir: string;
  /** A front's adapter directory. */
  adapterDir?: string;
  /** The successor's routes: every front, by the path id its frames carry. */
  routes?: Map<string, SharedFrontPlan>;
  /** A shared plan's class space: a front unit of a `union` plan maps its exits' answers into the union. */
  answers?: SharedAnswers;
  /** A front's class map into the union (a front unit of a `union` plan). */
  classMap?: number[];
}

/** A path's id: a union plan's paths are not a front plan's, so a successor never answers a front in the wrong space. */
const pathIdOf = (frontId: string, cut: number, adapterId: string, successorId: string, answers: SharedAnswers) =>
  createHash('sha256')
    .update(`${frontId}|${cut}|${adapterId}|${successorId}${answers === 'union' ? '|union' : ''}`)
    .digest('hex');

/** Whether a plan directory holds a shared successor's plan. */
export function isSharedPlanDir(dir: string): boolean {
  const path = join(dir, PLAN_FILE);
  if (!existsSync(path)) return false;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown }).format === SHARED_PLAN_FORMAT;
  } catch {
    return false;
  }
}

/**
 * Writes the plan of a shared successor (`branchy split SUCCESSOR-DIR`): one unit directory per front (its
 * stages and exits up to the cut, and its adapter under `adapter/`), the successor's unit directory, and
 * `plan.json`. The fronts are read from the directories the successor recorded and must be unchanged since. With
 * `answers: 'union'` every unit answers in the successor's classes, with each front's thresholds chosen for that.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_PLAN` for a front whose weights changed since its adapter learnt, a
 *   successor name that does not fit or is a front's, an unknown `answers`, or `union` for a front calibrated
 *   before union answers were offered; `MODEL_NOT_A_SUCCESSOR` (BranchyIoError) for a directory without fronts.
 */
export function writeSharedPlan(successorDir: string, out: string, options: { successorName?: string; answers?: SharedAnswers } = {}): SharedDeploymentPlan {
  const answers = options.answers ?? 'front';
  if (!SHARED_ANSWERS.includes(answers)) {
    throw new BranchyCascadeError('CASCADE_BAD_PLAN', `'answers' is ${JSON.stringify(answers)}; expected one of ${SHARED_ANSWERS.join(', ')}.`);
  }
  const info = readSharedInfo(successorDir);
  const uncalibrated = answers === 'union' ? info.fronts.find((f) => f.union === undefined) : undefined;
  if (uncalibrated) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_PLAN',
      `front '${uncalibrated.name}' of '${successorDir}' has no thresholds for answers in the union (it was trained before they were offered); train the successor again, or split with --answers front.`,
    );
  }
  const successor = loadModelDir(successorDir);
  const successorId = modelIdOf(successor.manifest);
  const successorName = options.successorName ?? 'successor';
  if (!UNIT_NAME_PATTERN.test(successorName) || info.fronts.some((f) => f.name === successorName)) {
    throw new BranchyCascadeError('CASCADE_BAD_PLAN', `successor unit name ${JSON.stringify(successorName)} must be a unit name that no front has.`);
  }
  mkdirSync(out, { recursive: true });
  const fronts = info.fronts.map((f): SharedFrontPlan => {
    const front = loadModelDir(f.dir);
    const frontModelId = modelIdOf(front.manifest);
    if (frontModelId !== f.modelId) {
      throw new BranchyCascadeError(
        'CASCADE_BAD_PLAN',
        `front '${f.name}' in '${f.dir}' is model ${frontModelId.slice(0, 12)}…; its adapter learnt on ${f.modelId.slice(0, 12)}…. Attach the changed front again.`,
      );
    }
    const adapter = loadModelDir(join(successorDir, f.adapter));
    const pathId = pathIdOf(frontModelId, f.cut, modelIdOf(adapter.manifest), successorId, answers);
    const { policy, front: calibrated } = answers === 'union' ? f.union! : f;
    const { branchPoints: _, ...frontSpec } = front.spec;
    const spec: NetworkSpec = {
      ...frontSpec,
      name: `${front.spec.name}.${f.name}`,
      description: `Front unit '${f.name}': stages 1..${f.cut} of ${front.spec.name}, handing on through its adapter to the shared successor.`,
      stages: front.spec.stages.slice(0, f.cut),
      exits: front.spec.exits.slice(0, f.cut),
      policy: { criterion: policy.criterion, thresholds: policy.thresholds.slice(0, f.cut - 1) },
    };
    validateSpec(spec);
    const dir = join(out, f.name);
    const unit = { spec, weights: renamedWeights(front.weights, 1, f.cut) };
    saveModelDir(dir, unit, { modelId: pathId, sharedFront: f.name });
    saveOnnxFiles(dir, exportNetwork(unit), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
    copyModel(adapter, join(dir, ADAPTER_UNIT_DIR), { modelId: pathId });
    return {
      name: f.name,
      network: front.spec.name,
      frontModelId,
      pathId,
      cut: f.cut,
      inputShape: [...front.spec.input.shape],
      classes: [...f.classes],
      classMap: [...f.classMap],
      policy: { criterion: policy.criterion, thresholds: [...policy.thresholds] },
      ...(calibrated && { front: { criterion: calibrated.criterion, points: calibrated.points, chosen: calibrated.chosen } }),
    };
  });
  copyModel(successor, join(out, successorName), { modelId: successorId });
  const plan: SharedDeploymentPlan = {
    format: SHARED_PLAN_FORMAT,
    model: successor.spec.name,
    modelId: successorId,
    id: sharedPlanIdOf(fronts),
    answers,
    successor: { name: successorName, inputShape: [...info.commonShape], classes: [...successor.spec.classes], stages: successor.spec.stages.length },
    fronts,
  };
  writeFileAtomic(join(out, PLAN_FILE), `${JSON.stringify(plan, null, 2)}\n`);
  return plan;
}

function sharedPlanIdOf(fronts: readonly Pick<SharedFrontPlan, 'name' | 'pathId'>[]): string {
  return createHash('sha256')
    .update(fronts.map((f) => `${f.name}:${f.pathId}`).join(','))
    .digest('hex')
    .slice(0, 12);
}

function copyModel(model: ReturnType<typeof loadModelDir>, dir: string, extra: Record<string, unknown>): void {
  saveModelDir(dir, { spec: model.spec, weights: model.weights }, extra);
  if (model.onnx) saveOnnxFiles(dir, model.onnx, model.manifest.onnx!);
  else saveOnnxFiles(dir, exportNetwork(model), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
}

function badPlan(path: string, message: string): never {
  throw new BranchyCascadeError('CASCADE_BAD_PLAN', `'${path}': ${message}`);
}

/**
 * Reads and checks a shared plan's `plan.json`.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_PLAN` for a missing, unreadable or malformed plan.
 */
export function readSharedPlan(dir: string): SharedDeploymentPlan {
  const path = join(dir, PLAN_FILE);
  let plan: SharedDeploymentPlan;
  try {
    plan = JSON.parse(readFileSync(path, 'utf8')) as SharedDeploymentPlan;
  } catch (error) {
    badPlan(path, `cannot be read as JSON: ${(error as Error).message}`);
  }
  checkPlanDepth(plan, path);
  if (plan?.format !== SHARED_PLAN_FORMAT) badPlan(path, `field 'format' is ${JSON.stringify(plan?.format)}; expected "${SHARED_PLAN_FORMAT}".`);
  plan.answers ??= 'front';
  if (!SHARED_ANSWERS.includes(plan.answers))
    badPlan(path, `field 'answers' is ${JSON.stringify(plan.answers)}; expected one of ${SHARED_ANSWERS.join(', ')}.`);
  const s = plan.successor;
  if (typeof s !== 'object' || s === null || !UNIT_NAME_PATTERN.test(s.name) || !Array.isArray(s.inputShape) || s.inputShape.length !== 3 || !(s.stages >= 1)) {
    badPlan(path, `field 'successor' is ${JSON.stringify(s)?.slice(0, 200)}; expected {name, inputShape [h, w, c], classes, stages ≥ 1}.`);
  }
  if (!Array.isArray(plan.fronts) || plan.fronts.length < 1) badPlan(path, `field 'fronts' must list at least one front.`);
  plan.fronts.forEach((f, i) => {
    const ok =
      typeof f === 'object' &&
      f !== null &&
      UNIT_NAME_PATTERN.test(f.name) &&
      f.name !== s.name &&
      /^[0-9a-f]{64}$/.test(f.pathId) &&
      Number.isInteger(f.cut) &&
      f.cut >= 1 &&
      Array.isArray(f.classes) &&
      Array.isArray(f.classMap) &&
      f.classMap.length === f.classes.length &&
      f.classMap.every((c) => Number.isInteger(c) && c >= 0 && c < s.classes.length && s.classes[c] === f.classes[f.classMap.indexOf(c)]) &&
      Array.isArray(f.policy?.thresholds) &&
      f.policy.thresholds.length === f.cut + s.stages - 1;
    if (!ok) badPlan(path, `fronts[${i}] is not a front of this successor: ${JSON.stringify(f).slice(0, 200)}.`);
    if (f.front !== undefined) checkPlanFront(path, `fronts[${i}].front`, f.front, f.policy.criterion, f.cut + s.stages);
  });
  if (plan.id !== sharedPlanIdOf(plan.fronts)) badPlan(path, `field 'id' is ${JSON.stringify(plan.id)}; expected the id of its fronts' paths (12 hex digits).`);
  return plan;
}

/**
 * Unit `name` of a shared plan, as a unit of a chain plan: a front unit runs stages 1..cut of its front (numbered
 * as in its path, whose later stages are the successor's) and hands on to the successor; the successor unit runs
 * its own stages, numbered from 1, for the frames of every front.
 *
 * @throws BranchyCascadeError `CASCADE_UNKNOWN_UNIT` for a name that is no unit of the plan.
 */
export function sharedUnitView(planDir: string, plan: SharedDeploymentPlan, name: string, unitSpec: NetworkSpec): SharedUnitView {
  const s = plan.successor;
  const chain = (front: SharedFrontPlan, spec: NetworkSpec): DeploymentPlan => ({
    format: 'branchy-plan/1',
    model: front.name,
    modelId: front.pathId,
    id: plan.id,
    spec,
    forward: 'features',
    units: [
      { name: front.name, index: 0, stages: [1, front.cut], firstExit: 1, inputShape: [...front.inputShape], takes: 'input', successor: s.name },
      { name: s.name, index: 1, stages: [front.cut + 1, front.cut + s.stages], firstExit: front.cut + 1, inputShape: [...s.inputShape], takes: 'features' },
    ],
  });
  if (name === s.name) {
    const first = plan.fronts[0];
    const view = chain(first, { ...unitSpec });
    const unit: UnitPlan = { name: s.name, index: 1, stages: [1, s.stages], firstExit: 1, inputShape: [...s.inputShape], takes: 'features' };
    return {
      plan: { ...view, model: plan.model, modelId: plan.modelId },
      unit,
      dir: join(planDir, name),
      routes: new Map(plan.fronts.map((f) => [f.pathId, f])),
      answers: plan.answers,
    };
  }
  const front = plan.fronts.find((f) => f.name === name);
  if (front === undefined) {
    throw new BranchyCascadeError(
      'CASCADE_UNKNOWN_UNIT',
      `plan '${planDir}' has no unit '${name}'; its units: ${[...plan.fronts.map((f) => f.name), s.name].join(', ')}.`,
    );
  }
  // The path's spec as the front unit and its predict route see it: its own stages and exits, then the successor's
  // (only counted: thresholds, depth), in the plan's class space, which the successor answers in.
  const successorPieces = Array.from({ length: s.stages }, (_, i) => ({ name: `${s.name} ${i + 1}`, layers: [] }));
  const spec: NetworkSpec = {
    ...unitSpec,
    name: front.network,
    stages: [...unitSpec.stages, ...successorPieces],
    exits: [...unitSpec.exits, ...successorPieces],
    classes: plan.answers === 'union' ? [...s.classes] : [...front.classes],
    policy: { ...front.policy },
  };
  const view: DeploymentPlan = { ...chain(front, spec), successorModel: plan.model, ...(front.front && { front: front.front }) };
  return {
    plan: view,
    unit: view.units[0],
    dir: join(planDir, name),
    adapterDir: join(planDir, name, ADAPTER_UNIT_DIR),
    answers: plan.answers,
    ...(plan.answers === 'union' ? { classMap: [...front.classMap] } : {}),
  };
}
