import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { chooseThresholdsForAccuracy } from '../calibrate/index.ts';
import { BranchyArgumentError } from '../common/errors.ts';
import type { Dataset, DatasetSplits } from '../data/index.ts';
import { exportNetwork, exportPiece, ONNX_OPSET, type OrtModule } from '../engine/ort/index.ts';
import { useBackend } from '../engine/tfjs/backend.ts';
import type { TfjsBackend } from '../engine/tfjs/backend-name.ts';
import type { Batch, ModelSource } from '../engine/types.ts';
import { getCriterion } from '../exit/index.ts';
import { allExitsOver, argmaxRow } from '../infer/index.ts';
import { loadModelDir, saveModelDir, saveOnnxFiles, saveOnnxModelDir, updateManifest, type LoadedModelDir } from '../io/model-dir.ts';
import { openModel } from '../open/open-model.ts';
import { checkSplitsMatchModel } from '../spec/data-match.ts';
import type { FeatureShape } from '../spec/shapes.ts';
import type { LayerSpec, NetworkSpec } from '../spec/types.ts';
import { headLayers, type HeadChoice } from './exit-heads.ts';
import { trainHead, type TrainedHead } from './head-training.ts';
import type { TrainOptions } from './options.ts';
import type { TrainEvent } from './trainer.ts';
import { checkPositions, restage, trunkCut, trunkFeatures, type CachedFeatures, type TrunkCut } from './trunk-cut.ts';

/** Where to put one new exit: a trunk position (see `TrunkCut`) and its head. */
export interface ExitRequest {
  position: number;
  head?: HeadChoice;
}

/** How `--at` and `--cut` name positions. */
export type PositionKind = 'stage-boundary' | 'layer';

/**
 * Turns `--at` (stage boundaries and the spec's branch points, in trunk order; on an imported trunk, its segment
 * boundaries) or `--cut` (layer positions of a network with layer lists) into trunk positions.
 *
 * @throws BranchyArgumentError `EXITS_CUT_NEEDS_LAYERS` for `--cut` on an imported trunk; `EXITS_BAD_POSITION`
 *   for a boundary the trunk does not have.
 */
export function resolvePositions(cut: TrunkCut, kind: PositionKind, values: readonly number[], stages: number): number[] {
  if (kind === 'layer') {
    if (cut.kind !== 'layers')
      throw new BranchyArgumentError(
        'EXITS_CUT_NEEDS_LAYERS',
        `--cut counts layers, and this network was imported from ONNX (no layer lists); branch at its ${cut.pieces} segment boundaries with --at 1 … ${cut.pieces - 1}.`,
      );
    return checkPositions(cut, values, 'layer position');
  }
  if (cut.kind === 'onnx') return checkPositions(cut, values, 'segment boundary');
  const count = cut.boundaries.length;
  return values.map((n) => {
    if (!Number.isInteger(n) || n < 1 || n > count)
      throw new BranchyArgumentError(
        'EXITS_BAD_POSITION',
        `stage boundary ${n} does not exist: the network has ${stages} stage${stages === 1 ? '' : 's'} and ${count === 0 ? 'no boundary to branch at (no early exit and no branch points in its spec)' : `${count} boundar${count === 1 ? 'y' : 'ies'} to branch at (--at 1 … ${count}: after layer ${cut.boundaries.join(', ')})`}; --cut 1 … ${cut.pieces - 1} branches after any of its ${cut.pieces} layers.`,
      );
    return cut.boundaries[n - 1];
  });
}

/** Everything `addExits` needs. */
export interface AddExitsRun {
  /** The trained network's model directory. */
  from: string;
  out: string;
  exits: ExitRequest[];
  splits: DatasetSplits;
  options: TrainOptions;
  backend: TfjsBackend;
  /** Continue head training from the checkpoints in `out`. */
  resume?: boolean;
  /** Train on only this many samples of the train split (a seeded sample). */
  trainSamples?: number;
  /** Largest validation accuracy loss (a share) allowed when choosing the first thresholds. */
  maxDrop: number;
  ort: () => Promise<OrtModule>;
  log: (line: string) => void;
  onEvent?: (position: number, event: TrainEvent) => void;
  /** Accept data whose class names differ from the network's (label n then means its class n); the shape must match. */
  allowClassMismatch?: boolean;
}

/** What `addExits` reports. */
export interface AddExitsOutcome {
  spec: NetworkSpec;
  /** Per new exit, in position order. */
  heads: { position: number; exit: number; shape: FeatureShape; layers: LayerSpec[]; validationAccuracy: number; seconds: number }[];
  /** Seconds spent running the trunk once over the train and validation samples. */
  featureSeconds: number;
  /** Seconds of head training, all heads. */
  headSeconds: number;
  validationAccuracy: number[];
  testAccuracy: number[];
}

function asBatch(ds: Dataset): Batch {
  return { data: ds.x, shape: [ds.count, ...ds.shape] };
}

/** Features of a split at every position, timed. */
async function featuresOf(model: ModelSource, cut: TrunkCut, positions: number[], ds: Dataset, ort: () => Promise<OrtModule>): Promise<CachedFeatures> {
  return trunkFeatures(model, cut, positions, asBatch(ds), ort);
}

/** Per exit, the share of a table's samples it classifies right. */
export function perExitAccuracy(probs: Float32Array[], classes: number, labels: Uint8Array): number[] {
  return probs.map((p) => {
    let right = 0;
    for (let i = 0; i < labels.length; i++) if (argmaxRow(p, i * classes, classes) === labels[i]) right++;
    return right / labels.length;
  });
}

/** A model's trunk features at the given positions for a run's train (possibly sampled) and validation splits. */
export async function cachedSplits(
  model: LoadedModelDir,
  cut: TrunkCut,
  positions: number[],
  splits: { train: Dataset; validation: Dataset },
  ort: () => Promise<OrtModule>,
): Promise<{ train: CachedFeatures; validation: CachedFeatures; seconds: number }> {
  const started = performance.now();
  const train = await featuresOf(model, cut, positions, splits.train, ort);
  const validation = await featuresOf(model, cut, positions, splits.validation, ort);
  return { train, validation, seconds: (performance.now() - started) / 1000 };
}

/**
 * Writes the network with new heads in place: a network with layer lists as an ordinary model directory (with
 * ONNX files when the source had them), an imported one as its ONNX segment files, byte for byte, beside the new
 * heads (weights, and their ONNX export).
 */
function writeNetwork(
  source: LoadedModelDir,
  out: string,
  spec: NetworkSpec,
  weights: Record<string, Float32Array>,
  segments: number[] | undefined,
  keptExit: (number | null)[],
  extra: Record<string, unknown>,
): void {
  const model: ModelSource = { spec, weights };
  if (spec.imported === undefined) {
    saveModelDir(out, model, extra);
    if (source.onnx) saveOnnxFiles(out, exportNetwork(model), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
    return;
  }
  const onnx = source.onnx!;
  const exits = spec.exits.map((e, i) => {
    const kept = keptExit[i];
    // A kept ONNX exit keeps its file; a native head (new, or kept from an earlier add-exits) is exported anew.
    return kept !== null && e.layers.length === 0 ? onnx.exits[kept - 1] : exportPiece(model, 'exit', i + 1);
  });
  saveOnnxModelDir(
    out,
    { spec, weights, onnx: { stages: onnx.stages, exits } },
    {
      opset: Math.max(source.manifest.onnx!.opset, ONNX_OPSET),
      inputLayout: onnx.inputLayout ?? 'nhwc',
      exitOutput: onnx.exitOutput ?? 'probs',
      ...(segments && segments.some((k) => k !== 1) ? { stageSegments: segments } : {}),
    },
    extra,
  );
}

/**
 * Adds exit heads to a trained network: runs the frozen trunk once over the train and validation samples,
 * keeping its features at each new exit's position, trains each head on those features alone (the trunk never
 * sees a gradient), re-stages the trunk so a stage ends at each position (weights unchanged; ONNX segment files
 * kept as they are), writes the result to `out` and chooses first thresholds on the validation split
 * (`maxDrop`, as `train` does). Existing exits are kept unless a new head takes their place.
 *
 * @throws BranchyArgumentError `EXITS_NO_POSITIONS`, `EXITS_BAD_POSITION`, `HEAD_BAD_SPEC`; BranchyDataError
 *   `DATA_MODEL_MISMATCH` when the splits do not fit the network (shape, or classes unless `allowClassMismatch`);
 *   the errors of the loaders and of training.
 */
export async function addExits(run: AddExitsRun): Promise<AddExitsOutcome> {
  if (run.exits.length === 0) throw new BranchyArgumentError('EXITS_NO_POSITIONS', 'no exit positions given: name at least one with --at or --cut.');
  await useBackend(run.backend);
  const source = loadModelDir(run.from);
  checkSplitsMatchModel(source.spec, run.splits, { allowClassMismatch: run.allowClassMismatch });
  const cut = await trunkCut(source, run.ort);
  const positions = checkPositions(
    cut,
    run.exits.map((e) => e.position),
    cut.kind === 'layers' ? 'layer position' : 'segment boundary',
  );
  const classes = source.spec.classes;
  const headOf = new Map(run.exits.map((e) => [e.position, headLayers(e.head, cut.boundaryShape(e.position), classes.length, cut.describe(e.position))]));
  const train = firstSamples(run.splits.train, run.trainSamples);
  run.log(
    `running the frozen trunk of ${source.spec.name} once over ${train.count} train and ${run.splits.validation.count} validation samples (${cut.kind === 'layers' ? `tfjs-${run.backend}` : 'onnxruntime'}), keeping its features at ${positions.map((p) => cut.describe(p)).join(', ')}`,
  );
  const features = await cachedSplits(source, cut, positions, { train, validation: run.splits.validation }, run.ort);
  const heads: AddExitsOutcome['heads'] = [];
  const trainedHeads: PlacedHead[] = [];
  let headSeconds = 0;
  for (const p of positions) {
    const layers = headOf.get(p)!;
    const trained: TrainedHead = await trainHead({
      boundary: cut.boundaryShape(p),
      layers,
      classes,
      train: { x: features.train.byPosition.get(p)!, y: train.y },
      validation: { x: features.validation.byPosition.get(p)!, y: run.splits.validation.y },
      options: run.options,
      checkpoint: join(run.out, '.heads', `at-${p}`),
      resume: run.resume,
      onEvent: run.onEvent && ((e) => run.onEvent!(p, e)),
    });
    headSeconds += trained.seconds;
    trainedHeads.push({ position: p, layers, weights: trained.weights });
    heads.push({ position: p, exit: 0, shape: cut.boundaryShape(p), layers, validationAccuracy: trained.validationAccuracy, seconds: trained.seconds });
    run.log(`  head at ${cut.describe(p)}: validation accuracy ${(100 * trained.validationAccuracy).toFixed(2)}%, ${trained.seconds.toFixed(1)} s`);
  }
  const record = {
    addExits: {
      from: run.from,
      data: run.splits.source,
      trainSamples: train.count,
      positions: heads.map((h) => ({ position: h.position, where: cut.describe(h.position), validationAccuracy: h.validationAccuracy, seconds: h.seconds })),
      featureSeconds: features.seconds,
      headSeconds,
      options: { ...run.options, mode: 'frozen' },
    },
    ...(source.manifest.training ? { trunkTraining: source.manifest.training } : {}),
  };
  const ends = writeWithHeads(source, cut, trainedHeads, run.out, { training: record });
  for (const h of heads) h.exit = ends.indexOf(h.position) + 1;
  rmSync(join(run.out, '.heads'), { recursive: true, force: true });
  return { ...(await chooseFirstThresholds(run, source.spec.policy.criterion)), heads, featureSeconds: features.seconds, headSeconds };
}

/** A trained head and where it goes. */
export interface PlacedHead {
  position: number;
  layers: LayerSpec[];
  /** Named `exit1.<layer>.<param>`, as `trainHead` returns them. */
  weights: Record<string, Float32Array>;
}

/**
 * Re-stages the trunk at the heads' positions, puts each head there with its weights, and writes the network to
 * `out` (see `writeNetwork`). Returns each new stage's end position.
 */
export function writeWithHeads(source: LoadedModelDir, cut: TrunkCut, heads: readonly PlacedHead[], out: string, extra: Record<string, unknown>): number[] {
  const restaged = restage(
    source,
    cut,
    heads.map((h) => h.position),
  );
  const weights = { ...restaged.weights };
  for (const h of heads) {
    const exit = restaged.ends.indexOf(h.position) + 1;
    for (const [name, w] of Object.entries(h.weights)) weights[`exit${exit}.${name.slice('exit1.'.length)}`] = w;
    restaged.spec.exits[exit - 1] = { name: `exit ${exit}`, layers: h.layers };
  }
  writeNetwork(source, out, restaged.spec, weights, restaged.stageSegments, restaged.keptExit, extra);
  return restaged.ends;
}

/** The first `k` samples of a (shuffled) split, or all of them. */
export function firstSamples(ds: Dataset, k: number | undefined): Dataset {
  if (k === undefined || k >= ds.count) return ds;
  const row = ds.x.length / ds.count;
  return { ...ds, x: ds.x.slice(0, k * row), y: ds.y.slice(0, k), count: k };
}

/** Thresholds for the written network on the validation split, as `train` chooses them, and per-exit accuracy. */
async function chooseFirstThresholds(run: AddExitsRun, criterionName: string): Promise<Pick<AddExitsOutcome, 'spec' | 'validationAccuracy' | 'testAccuracy'>> {
  const { net } = await openModel(run.out);
  try {
    const criterion = getCriterion(criterionName);
    const table = await allExitsOver(net, run.splits.validation);
    const test = await allExitsOver(net, run.splits.test);
    const choice = chooseThresholdsForAccuracy(table, run.splits.validation.y, criterion, run.maxDrop);
    const manifest = updateManifest(run.out, (m) => ({ ...m, spec: { ...m.spec, policy: { ...m.spec.policy, thresholds: choice.thresholds } } }));
    run.log(
      `thresholds chosen on the validation split (early exits may lose at most ${(100 * run.maxDrop).toFixed(2)} points against the final exit): [${choice.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], leaving at each exit ${choice.exitShare.map((s) => `${(100 * s).toFixed(1)}%`).join(' / ')}`,
    );
    return {
      spec: manifest.spec,
      validationAccuracy: perExitAccuracy(table.probs, table.classes, run.splits.validation.y),
      testAccuracy: perExitAccuracy(test.probs, test.classes, run.splits.test.y),
    };
  } finally {
    net.dispose();
  }
}
