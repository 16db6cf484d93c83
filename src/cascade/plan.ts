/**
 * Deployment plans: cutting a model directory into units (`branchy split`), each a model directory of its own
 * that holds only its stages and exit heads, and reading a plan back.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportNetwork, ONNX_OPSET } from '../engine/ort/index.ts';
import { jsonDepthPast } from '../common/json-depth.ts';
import {
  MANIFEST_MAX_DEPTH,
  modelIdOf,
  saveModelDir,
  saveOnnxFiles,
  saveOnnxModelDir,
  writeFileAtomic,
  type LoadedModelDir,
  type OnnxManifest,
} from '../io/model-dir.ts';
import { readStoredCalibration } from '../io/stored-calibration.ts';
import { hasLayers, networkFacts } from '../spec/shapes.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { validateSpec } from '../spec/validate.ts';
import { BranchyCascadeError } from './errors.ts';
import { FEATURE_DTYPES, PLAN_OBJECTIVES, type DeploymentPlan, type ForwardMode, type PlanFront, type PlanPlacement, type UnitPlan } from './types.ts';

/** The plan file of a plan directory. */
export const PLAN_FILE = 'plan.json';

/** Unit names: letters, digits, `_` and `-`, starting with a letter (they become directories and NATS subject tokens). */
export const UNIT_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** How to cut a network. */
export interface SplitOptions {
  /** The last stage of every unit but the last, ascending (`[1]` cuts B-LeNet after stage 1). */
  at: readonly number[];
  /** One name per unit (`at.length + 1`); default `unit1`, `unit2`, … */
  names?: readonly string[];
  /** What a unit hands on: its last stage's features (default) or the raw input. */
  forward?: ForwardMode;
}

/** One unit as `splitModel` cuts it: its place in the plan and its own network and weights. */
export interface SplitUnit {
  plan: UnitPlan;
  spec: NetworkSpec;
  weights: Record<string, Float32Array>;
  /**
   * For a network imported from ONNX, the unit's own ONNX files, copied byte for byte (its stages' segments and
   * its exits), and how they are laid out; a unit of a network built from layers is exported anew instead.
   */
  onnx?: { stages: Uint8Array[]; exits: Uint8Array[]; info: Omit<OnnxManifest, 'stages' | 'exits'> };
}

export { modelIdOf };

/** {@link DeploymentPlan.id}: which model, cut where, forwarding what. */
export function planIdOf(modelId: string, forward: ForwardMode, units: readonly Pick<UnitPlan, 'name' | 'stages'>[]): string {
  const cut = units.map((u) => `${u.name}:${u.stages[0]}-${u.stages[1]}`).join(',');
  return createHash('sha256').update(`${modelId}|${forward}|${cut}`).digest('hex').slice(0, 12);
}

/** The weights of stages and exits `first..last`, renumbered from 1 (a unit's own). */
export function renamedWeights(weights: Record<string, Float32Array>, first: number, last: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, data] of Object.entries(weights)) {
    const m = /^(stage|exit)(\d+)\.(.*)$/.exec(name);
    if (!m) continue;
    const n = Number(m[2]);
    if (n >= first && n <= last) out[`${m[1]}${n - first + 1}.${m[3]}`] = data;
  }
  return out;
}

/**
 * Cuts a model into units: unit i runs stages `at[i-1]+1 .. at[i]` and consults their exits. With `forward:
 * 'input'`, every unit after the first takes the raw input and runs the stages before its own too (without their
 * exits), so that what travels is the input rather than the features.
 *
 * A network imported from ONNX is cut at its stage boundaries (its segment files are copied byte for byte into the
 * units; native exit heads keep their weights); one whose stages are NCHW hands its features on as NHWC, as every
 * unit does, and the next unit's engine transposes them back.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_CUT` for cut points that are not ascending stages inside the network,
 *   names that do not fit, an imported network without its ONNX files, or a cut whose features are not a 3-D
 *   feature map.
 */
export function splitModel(model: LoadedModelDir, options: SplitOptions): { plan: DeploymentPlan; units: SplitUnit[] } {
  const spec = model.spec;
  const depth = spec.stages.length;
  const at = [...options.at];
  const forward = options.forward ?? 'features';
  const imported = !hasLayers(spec);
  if (imported && (model.onnx === undefined || model.manifest.onnx === undefined))
    throw new BranchyCascadeError('CASCADE_BAD_CUT', `'${spec.name}' was imported from ONNX but its directory lists no ONNX files.`);
  if (at.length === 0 || at.some((s, i) => !Number.isInteger(s) || s < 1 || s >= depth || (i > 0 && s <= at[i - 1]))) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_CUT',
      `cut points [${at.join(', ')}] do not cut '${spec.name}': expected ascending stages from 1 to ${depth - 1} (it has ${depth} stages).`,
    );
  }
  const names = options.names ? [...options.names] : at.map((_, i) => `unit${i + 1}`).concat(`unit${at.length + 1}`);
  if (names.length !== at.length + 1 || names.some((n) => !UNIT_NAME_PATTERN.test(n)) || new Set(names).size !== names.length) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_CUT',
      `unit names [${names.join(', ')}] do not fit ${at.length + 1} units: expected ${at.length + 1} distinct names of letters, digits, '_' or '-', starting with a letter.`,
    );
  }
  // Per stage, its output shape: from the layers, or, imported, as read from its ONNX files.
  const outputs = imported ? spec.stages.map((s) => s.output ?? []) : networkFacts(spec).stages.map((f) => [...f.output]);
  const bounds = [0, ...at, depth];
  const units = names.map((name, i): SplitUnit => {
    const first = bounds[i] + 1;
    const last = bounds[i + 1];
    const from = forward === 'input' ? 1 : first;
    const inputShape = from === 1 ? [...spec.input.shape] : [...outputs[from - 2]];
    if (inputShape.length !== 3) {
      throw new BranchyCascadeError(
        'CASCADE_BAD_CUT',
        `stage ${from - 1} of '${spec.name}' outputs [${inputShape.join(', ')}]; a unit's input must be a feature map [height, width, channels]. Cut elsewhere, or forward the input.`,
      );
    }
    const sub: NetworkSpec = {
      format: 'branchy/1',
      name: `${spec.name}.${name}`,
      description: `Unit '${name}' of ${spec.name}: stages ${first}..${last}${from < first ? ` (running stages ${from}..${first - 1} first)` : ''}.`,
      input: from === 1 ? spec.input : { shape: inputShape as [number, number, number] },
      classes: spec.classes,
      stages: spec.stages.slice(from - 1, last),
      exits: spec.exits.slice(from - 1, last),
      policy: { criterion: spec.policy.criterion, thresholds: spec.policy.thresholds.slice(from - 1, last - 1) },
      ...(imported ? { imported: spec.imported } : {}),
    };
    validateSpec(sub);
    const plan: UnitPlan = {
      name,
      index: i,
      stages: [from, last],
      firstExit: first,
      inputShape,
      takes: from === 1 ? 'input' : 'features',
      ...(i < names.length - 1 ? { successor: names[i + 1] } : {}),
    };
    const weights = renamedWeights(model.weights, from, last);
    return { plan, spec: sub, weights, ...(imported ? { onnx: onnxOfStages(model, from, last) } : {}) };
  });
  const modelId = modelIdOf(model.manifest);
  const unitPlans = units.map((u) => u.plan);
  const front = planFrontOf(model, spec);
  const plan: DeploymentPlan = {
    format: 'branchy-plan/1',
    model: spec.name,
    modelId,
    id: planIdOf(modelId, forward, unitPlans),
    spec,
    forward,
    units: unitPlans,
    ...(front ? { front } : {}),
  };
  return { plan, units };
}

/** An imported network's ONNX files of stages `from..last` (each stage's segments) and their exits, as they are. */
function onnxOfStages(model: LoadedModelDir, from: number, last: number): NonNullable<SplitUnit['onnx']> {
  const source = model.onnx!;
  const { stages: _, exits: __, ...info } = model.manifest.onnx!;
  const segments = source.stageSegments ?? model.spec.stages.map(() => 1);
  const start = (n: number) => segments.slice(0, n - 1).reduce((a, b) => a + b, 0);
  const own = segments.slice(from - 1, last);
  return {
    stages: source.stages.slice(start(from), start(last + 1)),
    exits: source.exits.slice(from - 1, last),
    info: { ...info, ...(info.stageSegments ? { stageSegments: own } : {}) },
  };
}

/**
 * The model's calibrated front for the plan, when it has one for `spec`'s criterion; `chosen` is the point with
 * the spec's thresholds (the planner's pick, or the calibrated choice), else the calibrated choice.
 */
function planFrontOf(model: LoadedModelDir, spec: NetworkSpec): PlanFront | undefined {
  const calibration = readStoredCalibration(model.manifest, model.dir);
  if (calibration === undefined || calibration.criterion !== spec.policy.criterion) return undefined;
  const points = calibration.front.map((p) => ({
    thresholds: [...p.thresholds],
    accuracy: p.accuracy,
    expectedCost: p.expectedCost,
    exitShare: [...p.exitShare],
  }));
  const same = (t: readonly number[]) => t.length === spec.policy.thresholds.length && t.every((v, i) => v === spec.policy.thresholds[i]);
  const own = points.findIndex((p) => same(p.thresholds));
  return { criterion: calibration.criterion, points, chosen: own >= 0 ? own : calibration.chosen };
}

/**
 * Writes a plan directory: one model directory per unit (weights and ONNX files, each with its checksum in the
 * unit's `branchy.json`, which also records the unit and the model id), then `plan.json`.
 */
export function writePlan(out: string, split: { plan: DeploymentPlan; units: SplitUnit[] }): DeploymentPlan {
  mkdirSync(out, { recursive: true });
  for (const unit of split.units) {
    const dir = join(out, unit.plan.name);
    const extra = { unit: unit.plan, modelId: split.plan.modelId };
    if (unit.onnx) {
      saveOnnxModelDir(dir, { spec: unit.spec, weights: unit.weights, onnx: unit.onnx }, unit.onnx.info, extra);
      continue;
    }
    saveModelDir(dir, { spec: unit.spec, weights: unit.weights }, extra);
    saveOnnxFiles(dir, exportNetwork({ spec: unit.spec, weights: unit.weights }), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
  }
  writeFileAtomic(join(out, PLAN_FILE), `${JSON.stringify(split.plan, null, 2)}\n`);
  return split.plan;
}

function badPlan(path: string, message: string): never {
  throw new BranchyCascadeError('CASCADE_BAD_PLAN', `'${path}': ${message}`);
}

/**
 * Refuses a parsed `plan.json` nested deeper than `branchy.json` may be (`MANIFEST_MAX_DEPTH`): its fields are
 * quoted in errors and its spec hashed, and a value nested thousands deep would overflow the stack doing either.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_PLAN` naming where.
 */
export function checkPlanDepth(plan: unknown, path: string): void {
  const tooDeep = jsonDepthPast(plan, MANIFEST_MAX_DEPTH);
  if (tooDeep !== undefined) badPlan(path, `${tooDeep} nests deeper than ${MANIFEST_MAX_DEPTH} levels of arrays and objects.`);
}

/**
 * Reads and checks `plan.json`.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_PLAN` for a missing, unreadable or malformed plan.
 */
export function readPlan(dir: string): DeploymentPlan {
  const path = join(dir, PLAN_FILE);
  if (!existsSync(path)) badPlan(path, `does not exist; write a plan with 'splitModel' and 'writePlan' (branchy split).`);
  let plan: DeploymentPlan;
  try {
    plan = JSON.parse(readFileSync(path, 'utf8')) as DeploymentPlan;
  } catch (error) {
    badPlan(path, `is not valid JSON: ${(error as Error).message}`);
  }
  checkPlanDepth(plan, path);
  if (typeof plan !== 'object' || plan === null || plan.format !== 'branchy-plan/1')
    badPlan(path, `field 'format' is ${JSON.stringify(plan?.format)}; expected "branchy-plan/1".`);
  if (typeof plan.modelId !== 'string' || !/^[0-9a-f]{64}$/.test(plan.modelId))
    badPlan(path, `field 'modelId' is ${JSON.stringify(plan.modelId)}; expected 64 hex digits.`);
  if (plan.forward !== 'features' && plan.forward !== 'input')
    badPlan(path, `field 'forward' is ${JSON.stringify(plan.forward)}; expected "features" or "input".`);
  validateSpec(plan.spec);
  const depth = plan.spec.stages.length;
  if (!Array.isArray(plan.units) || plan.units.length < 2) badPlan(path, `field 'units' must list at least 2 units.`);
  let next = 1;
  plan.units.forEach((u, i) => {
    const ok =
      typeof u === 'object' &&
      u !== null &&
      typeof u.name === 'string' &&
      UNIT_NAME_PATTERN.test(u.name) &&
      u.index === i &&
      u.firstExit === next &&
      Array.isArray(u.stages) &&
      u.stages[1] >= u.firstExit &&
      u.stages[0] >= 1 &&
      u.stages[0] <= u.firstExit &&
      Array.isArray(u.inputShape) &&
      u.inputShape.length === 3 &&
      (u.takes === 'input') === (u.stages[0] === 1) &&
      (i < plan.units.length - 1 ? u.successor === plan.units[i + 1].name : u.successor === undefined && u.stages[1] === depth);
    if (!ok) badPlan(path, `units[${i}] is not a unit continuing at stage ${next} of ${depth}: ${JSON.stringify(u).slice(0, 200)}.`);
    next = u.stages[1] + 1;
  });
  if (plan.id !== planIdOf(plan.modelId, plan.forward, Array.isArray(plan.units) ? plan.units : [])) {
    badPlan(path, `field 'id' is ${JSON.stringify(plan.id)}; expected the id of its model, forward mode and units (12 hex digits).`);
  }
  if (plan.placement !== undefined) checkPlacement(path, plan);
  if (plan.front !== undefined) checkPlanFront(path, 'front', plan.front, plan.spec.policy.criterion, plan.spec.stages.length);
  return plan;
}

/**
 * A plan's calibrated front (field `field` of the plan file at `path`): criterion `criterion`, points of one
 * threshold per early exit of a path `depth` exits deep and one share per exit, a chosen index among them.
 *
 * @throws BranchyCascadeError `CASCADE_BAD_PLAN` naming the field that does not fit.
 */
export function checkPlanFront(path: string, field: string, front: unknown, criterion: string, depth: number): void {
  const f = front as PlanFront;
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  const share = (v: unknown) => finite(v) && (v as number) >= 0 && (v as number) <= 1;
  if (typeof f !== 'object' || f === null || f.criterion !== criterion)
    badPlan(path, `field '${field}' must be an object with the plan's criterion '${criterion}'.`);
  if (!Array.isArray(f.points) || f.points.length === 0) badPlan(path, `field '${field}.points' must list at least one operating point.`);
  f.points.forEach((p, i) => {
    const ok =
      typeof p === 'object' &&
      p !== null &&
      Array.isArray(p.thresholds) &&
      p.thresholds.length === depth - 1 &&
      p.thresholds.every(finite) &&
      share(p.accuracy) &&
      finite(p.expectedCost) &&
      p.expectedCost >= 0 &&
      Array.isArray(p.exitShare) &&
      p.exitShare.length === depth &&
      p.exitShare.every(share);
    if (!ok)
      badPlan(
        path,
        `field '${field}.points[${i}]' is ${JSON.stringify(p).slice(0, 160)}; expected ${depth - 1} thresholds, an accuracy, a cost and ${depth} exit shares.`,
      );
  });
  if (!Number.isInteger(f.chosen) || f.chosen < 0 || f.chosen >= f.points.length)
    badPlan(path, `field '${field}.chosen' is ${JSON.stringify(f.chosen)}; expected an index into its ${f.points.length} points.`);
}

const PLACEMENT_FIELDS = ['tiers', 'objective', 'constraint', 'featureDtype', 'maxWaitMs', 'accuracy', 'exitShare', 'expected'];
const EXPECTED_FIELDS = ['latencyP50Ms', 'latencyMeanMs', 'deviceEnergyMj', 'sentBytes', 'throughputPerS'];

/** A plan's `placement`: every field present, of its type, and its tiers the units' names. */
function checkPlacement(path: string, plan: DeploymentPlan): void {
  const p = plan.placement as PlanPlacement & Record<string, unknown>;
  const fail = (field: string, expected: string): never =>
    badPlan(path, `field 'placement.${field}' is ${JSON.stringify((p as Record<string, unknown>)?.[field] ?? null)?.slice(0, 120)}; expected ${expected}.`);
  if (typeof p !== 'object' || p === null || Array.isArray(p)) badPlan(path, `field 'placement' is ${JSON.stringify(p)}; expected an object.`);
  const extra = Object.keys(p).find((k) => !PLACEMENT_FIELDS.includes(k));
  if (extra !== undefined) badPlan(path, `field 'placement.${extra}' is not a known field; expected only ${PLACEMENT_FIELDS.join(', ')}.`);
  const names = plan.units.map((u) => u.name);
  if (!Array.isArray(p.tiers) || p.tiers.length !== names.length || p.tiers.some((t, i) => t !== names[i]))
    fail('tiers', `the units' tiers in order, which name them: ${JSON.stringify(names)}`);
  if (!PLAN_OBJECTIVES.includes(p.objective)) fail('objective', `one of ${PLAN_OBJECTIVES.join(', ')}`);
  if (typeof p.constraint !== 'string') fail('constraint', 'the constraint in words');
  if (!FEATURE_DTYPES.includes(p.featureDtype)) fail('featureDtype', `one of ${FEATURE_DTYPES.join(', ')}`);
  const nonNegative = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!nonNegative(p.maxWaitMs)) fail('maxWaitMs', 'a number of ms ≥ 0');
  if (!nonNegative(p.accuracy) || p.accuracy > 1) fail('accuracy', 'a share in [0, 1]');
  const depth = plan.spec.stages.length;
  if (!Array.isArray(p.exitShare) || p.exitShare.length !== depth || !p.exitShare.every((s) => nonNegative(s) && s <= 1))
    fail('exitShare', `${depth} shares in [0, 1], one per exit`);
  const e = p.expected as unknown as Record<string, unknown>;
  if (typeof e !== 'object' || e === null || Object.keys(e).length !== EXPECTED_FIELDS.length || !EXPECTED_FIELDS.every((k) => k in e))
    fail('expected', `an object of ${EXPECTED_FIELDS.join(', ')}`);
  for (const k of EXPECTED_FIELDS) {
    const nullable = k === 'throughputPerS' || k === 'deviceEnergyMj';
    const ok = (nullable && e[k] === null) || (nonNegative(e[k]) && (k !== 'throughputPerS' || (e[k] as number) > 0));
    const expected = k === 'throughputPerS' ? 'a number > 0 or null' : nullable ? 'a number ≥ 0 or null' : 'a number ≥ 0';
    if (!ok) badPlan(path, `field 'placement.expected.${k}' is ${JSON.stringify(e[k])}; expected ${expected}.`);
  }
}

/** A unit of a plan and its model directory. */
export function planUnit(planDir: string, plan: DeploymentPlan, name: string): { unit: UnitPlan; dir: string } {
  const unit = plan.units.find((u) => u.name === name);
  if (unit === undefined) {
    throw new BranchyCascadeError('CASCADE_UNKNOWN_UNIT', `plan '${planDir}' has no unit '${name}'; its units: ${plan.units.map((u) => u.name).join(', ')}.`);
  }
  return { unit, dir: join(planDir, name) };
}
