/**
 * A shared successor: several front-end networks of their own (each with its early exits) hand the samples they
 * cannot answer to one successor network over the union of their classes. Each front gets a small **adapter**, an
 * ordinary one-stage network that maps its features at the cut to a common feature shape; the successor takes
 * that shape. Training is tree-style: the fronts are frozen (their features are computed once and cached), so no
 * error flows back into them; only the adapters and the successor learn (`successor` mode), or, for a front that
 * joins later, only its adapter against the frozen successor (`attach` mode).
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { chooseThresholdsForAccuracy, paretoFront, profileCosts, thinFront, type AccuracyTargetChoice, type ProfileOptions } from '../calibrate/index.ts';
import { BranchyArgumentError } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';
import { loadDataSource, subset, type Dataset, type DatasetSplits } from '../data/index.ts';
import { exportNetwork, ONNX_OPSET } from '../engine/ort/index.ts';
import { useBackend } from '../engine/tfjs/backend.ts';
import type { TfjsBackend } from '../engine/tfjs/backend-name.ts';
import { TfjsNetwork } from '../engine/tfjs/network.ts';
import { useWasmTrainingKernels, wasmTrainingKernelsRegistered } from '../engine/tfjs/kernels/index.ts';
import { getCriterion, firstPassingExit } from '../exit/index.ts';
import {
  argmaxRow,
  frontFeatures,
  sharedPathAllExitsOver,
  sharedPathNetwork,
  type AllExitsResult,
  type LabelledSamples,
  type SharedPath,
} from '../infer/index.ts';
import { loadModelDir, modelIdOf, readManifest, saveModelDir, saveOnnxFiles, updateManifest, type LoadedModelDir } from '../io/model-dir.ts';
import { ADAPTERS_DIR, readSharedInfo, type SharedFront, type SharedPathFront, type SharedSuccessorInfo } from '../io/shared-successor.ts';
import { checkSplitsMatchModel } from '../spec/data-match.ts';
import { networkFacts } from '../spec/shapes.ts';
import type { LayerSpec, NetworkSpec } from '../spec/types.ts';
import { loadTfjsGradients } from './gradients.ts';
import { learningRateAt, validateTrainOptions, type TrainOptions } from './options.ts';
import { exitAccuracies } from './trainer.ts';

/** The common feature shape adapters map to, unless asked otherwise: [height, width, channels]. */
export const DEFAULT_COMMON_SHAPE: readonly [number, number, number] = [8, 8, 16];
/** Front names become unit names: letters, digits, `_` and `-`, starting with a letter. */
const FRONT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Loss weight of an adapter's own exit (a linear read-out of the common features) beside the successor's. */
const ADAPTER_EXIT_WEIGHT = 0.1;

/** A front to train an adapter for. */
export interface FrontRequest {
  /** Model directory of a trained front-end (any branchy network with at least two stages). */
  dir: string;
  /** Data source of the front's domain (`mnist`, `fashion-mnist`, …): its classes must be the front's. */
  data: string;
  /** Its name; default the directory's base name. */
  name?: string;
  /** Last stage before the adapter; default the front's last early exit's stage (depth − 1). */
  cut?: number;
}

/** Settings of adapter and successor training (a subset of `TrainOptions`; `mode` is set by the call). */
export type SharedTrainOptions = Pick<TrainOptions, 'epochs' | 'batchSize' | 'learningRate' | 'beta1' | 'beta2' | 'seed' | 'lrSchedule'>;

/** What `trainSharedSuccessor` and `attachFront` share. */
interface SharedRunCommon {
  options: SharedTrainOptions;
  backend: TfjsBackend;
  /** Seed of each data source's train/validation/test split. */
  splitSeed: number;
  /** Train on only the first n samples of each front's (already shuffled) train split. */
  trainSamples?: number;
  /** Evaluate on only the first n test samples of each domain (default all). */
  testSamples?: number;
  /** Largest validation accuracy loss (a share) each front's early exits may cost, counting the successor's answers. */
  maxDrop: number;
  log: (line: string) => void;
  /** Splits by data source name, when the caller has loaded them already. */
  splits?: Record<string, DatasetSplits>;
  /** Accept data whose class names differ from its front's (label n then means the front's class n); shapes must match. */
  allowClassMismatch?: boolean;
  /** How each path's costs are timed for its calibrated front (default {@link PATH_PROFILE}). */
  profile?: ProfileOptions;
}

/** Timing of a path's stages and exits for its front: fewer samples than `branchy calibrate`'s, as it runs per front and class space. */
export const PATH_PROFILE: ProfileOptions = { batch1Samples: 100, batches: 2, warmup: 10 };

/** `trainSharedSuccessor`'s request. */
export interface SharedSuccessorRun extends SharedRunCommon {
  fronts: FrontRequest[];
  /** The successor directory to write (its adapters go under `adapters/`). */
  out: string;
  commonShape?: readonly [number, number, number];
}

/** `attachFront`'s request. */
export interface AttachFrontRun extends SharedRunCommon {
  front: FrontRequest;
  /** The successor directory `trainSharedSuccessor` wrote. */
  successor: string;
}

/** A front loaded for training: its network, its cut, its data and its features at the cut, computed once. */
interface LoadedFront {
  name: string;
  dir: string;
  model: LoadedModelDir;
  net: TfjsNetwork;
  cut: number;
  data: string;
  splits: DatasetSplits;
  classMap: number[];
  /** The front's features at the cut for the train, validation and test samples: the cache the adapters learn on. */
  features: { train: Dataset; validation: Dataset; test: Dataset };
}

function badFront(message: string): never {
  throw new BranchyArgumentError('TRAIN_BAD_FRONT', message);
}

/**
 * The union of the fronts' classes, in the order they first appear; and per front, each class's index in it.
 * Fronts that share class names (two digit cameras) share those classes.
 */
export function unionOfClasses(classLists: readonly (readonly string[])[]): { classes: string[]; maps: number[][] } {
  const classes: string[] = [];
  const maps = classLists.map((list) =>
    list.map((c) => {
      const at = classes.indexOf(c);
      if (at >= 0) return at;
      classes.push(c);
      return classes.length - 1;
    }),
  );
  return { classes, maps };
}

/**
 * An adapter: one stage (relu, then a convolution whose stride brings the front's feature map to the common
 * height and width, then relu) and its own exit, a linear read-out over the successor's classes.
 *
 * @throws BranchyArgumentError `TRAIN_BAD_FRONT` when no stride brings `featureShape` to `commonShape`'s size.
 */
export function adapterSpec(front: string, featureShape: readonly number[], commonShape: readonly number[], classes: readonly string[]): NetworkSpec {
  if (featureShape.length !== 3) {
    badFront(`front '${front}' has features [${featureShape.join(', ')}] at its cut; an adapter takes a feature map [height, width, channels]. Cut elsewhere.`);
  }
  const [h, w] = featureShape;
  const [H, W, C] = commonShape;
  let stride = 0;
  for (let s = 1; s <= Math.max(h, w) && stride === 0; s++) if (Math.ceil(h / s) === H && Math.ceil(w / s) === W) stride = s;
  if (stride === 0) {
    badFront(
      `front '${front}' has ${h}×${w} feature maps at its cut; no convolution stride brings them to the common ${H}×${W}. Choose another common shape (--common-shape) or cut.`,
    );
  }
  const layers: LayerSpec[] = [
    { type: 'relu' },
    { type: 'conv2d', filters: C, kernel: stride === 1 ? 3 : stride + 1, stride, padding: 'same' },
    { type: 'relu' },
  ];
  return {
    format: 'branchy/1',
    name: `adapter-${front}`,
    description: `Adapter of front '${front}': its features [${featureShape.join(', ')}] to the shared successor's [${commonShape.join(', ')}].`,
    input: { shape: [featureShape[0], featureShape[1], featureShape[2]] },
    classes: [...classes],
    stages: [{ name: 'adapter', layers }],
    exits: [{ name: 'read-out', layers: [{ type: 'flatten' }, { type: 'dense', units: classes.length }] }],
    policy: { criterion: 'entropy', thresholds: [] },
  };
}

/** The shared successor: a small conv net on the common feature shape, one exit over the union of classes. */
export function successorSpec(commonShape: readonly number[], classes: readonly string[]): NetworkSpec {
  return {
    format: 'branchy/1',
    name: 'shared-successor',
    description: `Shared successor over [${commonShape.join(', ')}] features from several front-ends: ${classes.length} classes.`,
    input: { shape: [commonShape[0], commonShape[1], commonShape[2]] },
    classes: [...classes],
    stages: [
      {
        name: 'successor',
        layers: [
          { type: 'conv2d', filters: 32, kernel: 3, padding: 'same' },
          { type: 'relu' },
          { type: 'maxPool', size: 2, padding: 'ceil' },
          { type: 'flatten' },
          { type: 'dense', units: 64 },
          { type: 'relu' },
        ],
      },
    ],
    exits: [{ name: 'final', layers: [{ type: 'dense', units: classes.length }] }],
    policy: { criterion: 'entropy', thresholds: [] },
  };
}

/**
 * A network of the same cost as one front's path, for one domain alone: the front's stages and exits up to the cut,
 * then one stage of the adapter's and the successor's layers, with a final exit over the domain's classes only.
 * Trained jointly from scratch, it is what the path is measured against.
 */
export function sameCostSpec(front: NetworkSpec, cut: number, adapter: NetworkSpec, successor: NetworkSpec): NetworkSpec {
  const final = successor.exits[successor.exits.length - 1].layers.map((l) => (l.type === 'dense' ? { ...l, units: front.classes.length } : l));
  return {
    format: 'branchy/1',
    name: `${front.name}-same-cost`,
    description: `${front.name} up to stage ${cut}, then ${adapter.name} and ${successor.name} as one stage, for ${front.classes.length} classes.`,
    input: front.input,
    classes: [...front.classes],
    stages: [...front.stages.slice(0, cut), { name: 'adapter+successor', layers: [...adapter.stages[0].layers, ...successor.stages.flatMap((s) => s.layers)] }],
    exits: [...front.exits.slice(0, cut), { name: 'final', layers: final }],
    policy: { criterion: front.policy.criterion, thresholds: front.policy.thresholds.slice(0, cut) },
  };
}

/** The first `n` samples of a data set (all when n is undefined or larger). */
function firstSamples(ds: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= ds.count) return ds;
  return subset(
    ds,
    Uint32Array.from({ length: n }, (_, i) => i),
  );
}

async function featuresOf(net: TfjsNetwork, cut: number, ds: Dataset): Promise<Dataset> {
  const row = ds.x.length / ds.count;
  let x: Float32Array | undefined;
  let shape: number[] = [];
  for (let start = 0; start < ds.count; start += 256) {
    const n = Math.min(256, ds.count - start);
    const f = await frontFeatures(net, cut, { data: ds.x.subarray(start * row, (start + n) * row), shape: [n, ...ds.shape] });
    const per = f.data.length / n;
    x ??= new Float32Array(ds.count * per);
    shape = f.shape.slice(1);
    x.set(f.data, start * per);
  }
  return { x: x!, y: ds.y, count: ds.count, shape: shape as unknown as Dataset['shape'], classes: ds.classes };
}

async function loadFront(request: FrontRequest, run: SharedRunCommon, unionMap: (classes: readonly string[]) => number[]): Promise<LoadedFront> {
  const model = loadModelDir(request.dir);
  const name = request.name ?? basename(request.dir.replace(/\/+$/, ''));
  if (!FRONT_NAME.test(name))
    badFront(`front name ${JSON.stringify(name)} must be letters, digits, '_' or '-', starting with a letter (it names a unit); give --names.`);
  const depth = model.spec.stages.length;
  const cut = request.cut ?? depth - 1;
  if (!Number.isInteger(cut) || cut < 1 || cut >= depth) {
    badFront(
      `front '${name}' (${model.spec.name}) has ${depth} stage(s); its cut must be a stage from 1 to ${depth - 1}, so that it keeps an exit of its own; got ${cut}.`,
    );
  }
  const loaded = run.splits?.[request.data] ?? loadDataSource(request.data, run.splitSeed);
  checkSplitsMatchModel(model.spec, loaded, { allowClassMismatch: run.allowClassMismatch });
  const splits: DatasetSplits = {
    ...loaded,
    train: firstSamples(loaded.train, run.trainSamples),
    test: firstSamples(loaded.test, run.testSamples),
  };
  const net = new TfjsNetwork(model.spec, model.weights);
  const started = performance.now();
  const features = {
    train: await featuresOf(net, cut, splits.train),
    validation: await featuresOf(net, cut, splits.validation),
    test: await featuresOf(net, cut, splits.test),
  };
  run.log(
    `front ${name} (${model.spec.name}, ${request.data}): features of stage ${cut} [${features.train.shape.join(', ')}] cached for ${splits.train.count} train, ${splits.validation.count} validation, ${splits.test.count} test samples in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { name, dir: request.dir, model, net, cut, data: request.data, splits, classMap: unionMap(model.spec.classes), features };
}

/** An adapter in training: its network, its front's cached features and class map. */
interface AdapterPart {
  adapter: TfjsNetwork;
  features: Dataset;
  classMap: number[];
}

/** The successor's logits at each exit on common features, letting gradients flow back into them. */
function successorLogits(successor: TfjsNetwork, common: tf.Tensor, training: boolean): tf.Tensor2D[] {
  const logits: tf.Tensor2D[] = [];
  let x = common;
  for (let n = 1; n <= successor.depth; n++) {
    x = successor.applyPiece('stage', n, x, training, false);
    logits.push(successor.applyPiece('exit', n, x, training, false) as tf.Tensor2D);
  }
  return logits;
}

/**
 * Trains adapters (and, unless `frozenSuccessor`, the successor) on the fronts' cached features. Each step takes
 * `batchSize` samples of every front, runs each through its adapter, and the successor once on all of them, so its
 * batches mix the fronts as a shared deployment does. Loss: cross-entropy of every successor exit over the union of
 * classes, plus a small weight on each adapter's own exit.
 */
async function trainAdapters(
  parts: readonly AdapterPart[],
  successor: TfjsNetwork,
  options: SharedTrainOptions,
  frozenSuccessor: boolean,
  log: (line: string) => void,
): Promise<{ epochSeconds: number[]; loss: number }> {
  const trainOptions: TrainOptions = { ...options, mode: 'joint' };
  validateTrainOptions(trainOptions);
  await loadTfjsGradients();
  if (tf.getBackend() === 'wasm' && !wasmTrainingKernelsRegistered()) useWasmTrainingKernels();
  const variables = [...parts.flatMap((p) => p.adapter.trainableVariables('all')), ...(frozenSuccessor ? [] : successor.trainableVariables('all'))];
  const optimizer = tf.train.adam(options.learningRate, options.beta1, options.beta2);
  const classes = successor.spec.classes.length;
  const batch = options.batchSize;
  const steps = Math.ceil(Math.max(...parts.map((p) => p.features.count)) / batch);
  const epochSeconds: number[] = [];
  let loss = NaN;
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    // Adam reads its step size on every update (as `createOptimizer`'s schedule sets it).
    (optimizer as unknown as { learningRate: number }).learningRate = learningRateAt(trainOptions, epoch);
    const orders = parts.map((p, i) => new Rng(options.seed * 1_000_003 + epoch * 101 + i).permutation(p.features.count));
    const started = performance.now();
    let lossSum = 0;
    for (let step = 0; step < steps; step++) {
      const cost = tf.tidy(() =>
        optimizer.minimize(
          () => {
            const commons: tf.Tensor[] = [];
            const labels: number[] = [];
            let total: tf.Scalar = tf.scalar(0);
            parts.forEach((p, i) => {
              const row = p.features.x.length / p.features.count;
              const x = new Float32Array(batch * row);
              for (let k = 0; k < batch; k++) {
                const s = orders[i][(step * batch + k) % p.features.count];
                x.set(p.features.x.subarray(s * row, (s + 1) * row), k * row);
                labels.push(p.classMap[p.features.y[s]]);
              }
              const common = p.adapter.applyPiece('stage', 1, tf.tensor(x, [batch, ...p.features.shape]), true, true);
              const own = p.adapter.applyPiece('exit', 1, common, true);
              const y = tf.oneHot(tf.tensor1d(labels.slice(i * batch), 'int32'), classes);
              total = tf.add(total, tf.mul(tf.losses.softmaxCrossEntropy(y, own), ADAPTER_EXIT_WEIGHT / parts.length));
              commons.push(common);
            });
            const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
            for (const logits of successorLogits(successor, tf.concat(commons, 0), !frozenSuccessor))
              total = tf.add(total, tf.losses.softmaxCrossEntropy(y, logits));
            return total;
          },
          true,
          variables,
        )!,
      );
      lossSum += (await cost.data())[0];
      cost.dispose();
      if (step % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    loss = lossSum / steps;
    const seconds = (performance.now() - started) / 1000;
    epochSeconds.push(seconds);
    log(`epoch ${epoch}/${options.epochs}: loss ${loss.toFixed(4)}, ${seconds.toFixed(1)} s`);
  }
  optimizer.dispose();
  return { epochSeconds, loss };
}

/** The share of rows whose first passing exit answers right, and the share leaving at each exit. */
function pathFigures(table: AllExitsResult, labels: Uint8Array, criterion: string, thresholds: readonly number[]): { accuracy: number; exitShare: number[] } {
  const c = getCriterion(criterion);
  const depth = table.probs.length;
  const share = new Array<number>(depth).fill(0);
  let correct = 0;
  const scores = new Float64Array(depth);
  for (let i = 0; i < table.count; i++) {
    for (let n = 0; n < depth; n++) scores[n] = c.score(table.probs[n], table.classes, i * table.classes);
    const e = firstPassingExit(scores, thresholds);
    share[e]++;
    if (argmaxRow(table.probs[e], i * table.classes, table.classes) === labels[i]) correct++;
  }
  return { accuracy: correct / table.count, exitShare: share.map((s) => s / table.count) };
}

/**
 * Chooses a front's thresholds on its validation split, counting the successor's answers for the samples it
 * forwards, and measures the path on its test split; in the front's classes or, with `answers: 'union'`, in the
 * union (labels mapped there, the successor's argmax over every class it knows).
 */
async function calibrateFront(
  front: LoadedFront,
  adapter: TfjsNetwork,
  successor: TfjsNetwork,
  maxDrop: number,
  answers: 'front' | 'union',
  profile: ProfileOptions,
): Promise<Required<Pick<SharedFront, 'policy' | 'calibration' | 'test' | 'front'>>> {
  const path: SharedPath = { front: front.net, cut: front.cut, adapter, successor, classMap: front.classMap, answers };
  const criterion = front.model.spec.policy.criterion;
  const labels = (ds: Dataset) => (answers === 'union' ? Uint8Array.from(ds.y, (y) => front.classMap[y]) : ds.y);
  const { validation: v, test: t } = front.splits;
  const validation = await sharedPathAllExitsOver(path, v);
  const choice = chooseThresholdsForAccuracy(validation, labels(v), getCriterion(criterion), maxDrop);
  const calibrated = await pathFront(path, validation, { ...v, y: labels(v) }, choice, profile);
  const table = await sharedPathAllExitsOver(path, t);
  const withSuccessor = pathFigures(table, labels(t), criterion, choice.thresholds);
  const successorOnly = pathFigures(
    table,
    labels(t),
    criterion,
    choice.thresholds.map(() => 0),
  ).accuracy;
  const frontAlone = exitAccuracies(front.net, t)[front.model.spec.stages.length - 1];
  return {
    policy: { criterion, thresholds: choice.thresholds },
    calibration: { split: 'validation', maxDrop, accuracy: choice.accuracy, finalAccuracy: choice.finalAccuracy, exitShare: choice.exitShare },
    test: { samples: t.count, frontAlone, withSuccessor: withSuccessor.accuracy, successorOnly, exitShare: withSuccessor.exitShare },
    front: calibrated,
  };
}

/**
 * The path's Pareto front over its validation table (`branchy calibrate`'s search, on costs timed on the path as
 * the training engine runs it), thinned as a calibration stores it; it starts at the chosen thresholds' point, or,
 * when the front does not hold them, at the cheapest point at least as accurate.
 */
async function pathFront(
  path: SharedPath,
  table: AllExitsResult,
  validation: LabelledSamples,
  choice: AccuracyTargetChoice,
  profile: ProfileOptions,
): Promise<SharedPathFront> {
  const net = sharedPathNetwork(path);
  const criterion = getCriterion(net.spec.policy.criterion);
  const costs = await profileCosts(net, validation, profile);
  const front = paretoFront(table, validation.y, criterion, costs.costToExit, { baselineCost: costs.finalOnlyCost });
  const same = (t: readonly number[]) => t.every((x, i) => x === choice.thresholds[i]);
  const own = front.find((p) => same(p.thresholds)) ?? front.find((p) => p.accuracy >= choice.accuracy - 1e-12) ?? front[front.length - 1];
  const points = thinFront(front, own);
  return {
    criterion: criterion.name,
    runtime: costs.runtime,
    costToExit: costs.costToExit,
    points: points.map((p) => ({ thresholds: [...p.thresholds], accuracy: p.accuracy, expectedCost: p.expectedCost, exitShare: [...p.exitShare] })),
    chosen: points.indexOf(own),
  };
}

async function describeFront(
  front: LoadedFront,
  adapter: TfjsNetwork,
  successor: TfjsNetwork,
  mode: SharedFront['mode'],
  run: Pick<SharedRunCommon, 'maxDrop' | 'profile' | 'log'>,
): Promise<SharedFront> {
  const { maxDrop, log } = run;
  const profile = run.profile ?? PATH_PROFILE;
  const own = await calibrateFront(front, adapter, successor, maxDrop, 'front', profile);
  const union = await calibrateFront(front, adapter, successor, maxDrop, 'union', profile);
  const pct = (a: number) => `${(100 * a).toFixed(2)}%`;
  for (const [space, c] of [
    ['its classes', own],
    ['the union', union],
  ] as const) {
    log(
      `front ${front.name}, answers in ${space}: thresholds [${c.policy.thresholds.map((t) => +t.toPrecision(4)).join(', ')}] on ${front.splits.validation.count} validation samples (successor counted); test: front alone ${pct(c.test.frontAlone)}, with early exit + successor ${pct(c.test.withSuccessor)} (successor for every sample ${pct(c.test.successorOnly)}), answered at the front ${pct(1 - c.test.exitShare[c.test.exitShare.length - 1])}; calibrated front of ${c.front.points.length} points (${c.front.runtime})`,
    );
  }
  return {
    name: front.name,
    dir: front.dir,
    modelId: modelIdOf(front.model.manifest),
    cut: front.cut,
    classes: [...front.model.spec.classes],
    classMap: front.classMap,
    featureShape: [...front.features.train.shape],
    adapter: `${ADAPTERS_DIR}/${front.name}`,
    data: front.splits.source,
    mode,
    ...own,
    union,
  };
}

function saveNetwork(dir: string, net: TfjsNetwork, extra: Record<string, unknown>): void {
  const source = { spec: net.spec, weights: net.weights() };
  saveModelDir(dir, source, extra);
  saveOnnxFiles(dir, exportNetwork(source), { opset: ONNX_OPSET, inputLayout: 'nhwc', exitOutput: 'probs' });
}

/** What `trainSharedSuccessor` and `attachFront` hand back. */
export interface SharedTrainingOutcome {
  info: SharedSuccessorInfo;
  /** Seconds of each training epoch. */
  epochSeconds: number[];
}

/**
 * Trains one adapter per front and a shared successor over the union of their classes, with every front frozen,
 * then chooses each front's thresholds on its own validation split (counting the successor's answers) and writes
 * the successor directory: the successor (weights and ONNX), `adapters/<front>/` (each an ordinary model
 * directory), and in `branchy.json` the field `shared` ({@link SharedSuccessorInfo}) and `training.options.mode:
 * 'successor'`. The fronts' directories are only read.
 *
 * @throws BranchyArgumentError `TRAIN_BAD_FRONT` for fewer than one front, a front whose cut or name does not fit,
 *   or two fronts of one name; `TRAIN_BAD_OPTION`; BranchyDataError `DATA_MODEL_MISMATCH` for a front whose data
 *   does not fit it (shape, or classes unless `allowClassMismatch`); the data loaders' and model readers' errors.
 */
export async function trainSharedSuccessor(run: SharedSuccessorRun): Promise<SharedTrainingOutcome> {
  if (run.fronts.length < 1) badFront('give at least one front.');
  await useBackend(run.backend);
  const manifests = run.fronts.map((f) => readManifest(f.dir));
  const { classes, maps } = unionOfClasses(manifests.map((m) => m.spec.classes));
  const fronts: LoadedFront[] = [];
  for (const [i, request] of run.fronts.entries()) fronts.push(await loadFront(request, run, () => maps[i]));
  const names = fronts.map((f) => f.name);
  if (new Set(names).size !== names.length) badFront(`fronts [${names.join(', ')}] must have distinct names; give --names.`);
  const commonShape = [...(run.commonShape ?? DEFAULT_COMMON_SHAPE)];
  const successor = new TfjsNetwork(successorSpec(commonShape, classes), undefined, run.options.seed);
  const adapters = fronts.map(
    (f, i) => new TfjsNetwork(adapterSpec(f.name, f.features.train.shape, commonShape, classes), undefined, run.options.seed + 1 + i),
  );
  run.log(
    `training adapters for ${names.join(', ')} and one successor over ${classes.length} classes (common features [${commonShape.join(', ')}]), fronts frozen: ${run.options.epochs} epochs, ${run.options.batchSize} samples of each front per step, tfjs-${run.backend}`,
  );
  const parts = fronts.map((f, i) => ({ adapter: adapters[i], features: f.features.train, classMap: f.classMap }));
  const { epochSeconds, loss } = await trainAdapters(parts, successor, run.options, false, run.log);
  const described: SharedFront[] = [];
  for (const [i, f] of fronts.entries()) described.push(await describeFront(f, adapters[i], successor, 'successor', run));
  const info: SharedSuccessorInfo = { format: 'branchy-shared/1', commonShape, fronts: described };
  const training = (mode: 'successor', data: string) => ({ data, backend: `tfjs-${run.backend}`, options: { ...run.options, mode }, epochSeconds, loss });
  saveNetwork(run.out, successor, { training: training('successor', fronts.map((f) => f.splits.source).join(' + ')), shared: info });
  fronts.forEach((f, i) =>
    saveNetwork(join(run.out, ADAPTERS_DIR, f.name), adapters[i], {
      training: { ...training('successor', f.splits.source), front: f.name, frontModelId: described[i].modelId },
    }),
  );
  run.log(`successor written to ${run.out} (${networkFacts(successor.spec).params} parameters), adapters under ${join(run.out, ADAPTERS_DIR)}`);
  for (const n of [successor, ...adapters, ...fronts.map((f) => f.net)]) n.dispose();
  return { info, epochSeconds };
}

/**
 * Trains an adapter for a new front against an existing, frozen successor, chooses the front's thresholds on its
 * validation split, and records it in the successor's `branchy.json` (`shared.fronts`; the adapter under
 * `adapters/<front>/`, `training.options.mode: 'attach'`). The successor's weights and the other fronts' adapters
 * are not touched, so it answers the old fronts as before.
 *
 * @throws BranchyArgumentError `TRAIN_NOT_A_SUCCESSOR` for a directory `trainSharedSuccessor` did not write,
 *   `TRAIN_UNKNOWN_CLASSES` for a front with classes the successor does not have, `TRAIN_FRONT_EXISTS` for a
 *   front name already attached, `TRAIN_BAD_FRONT` and `DATA_MODEL_MISMATCH` as `trainSharedSuccessor`.
 */
export async function attachFront(run: AttachFrontRun): Promise<SharedTrainingOutcome> {
  const info = readSharedInfo(run.successor);
  await useBackend(run.backend);
  const saved = loadModelDir(run.successor);
  const union = saved.spec.classes;
  const frontClasses = readManifest(run.front.dir).spec.classes;
  const unknown = frontClasses.filter((c) => !union.includes(c));
  if (unknown.length > 0) {
    throw new BranchyArgumentError(
      'TRAIN_UNKNOWN_CLASSES',
      `the successor in '${run.successor}' answers [${union.join(', ')}]; front '${run.front.dir}' has classes it does not know: [${unknown.join(', ')}]. A frozen successor cannot learn new classes: train a successor with this front ('branchy train-successor').`,
    );
  }
  const front = await loadFront(run.front, run, (classes) => classes.map((c) => union.indexOf(c)));
  if (info.fronts.some((f) => f.name === front.name) || existsSync(join(run.successor, ADAPTERS_DIR, front.name))) {
    throw new BranchyArgumentError(
      'TRAIN_FRONT_EXISTS',
      `the successor in '${run.successor}' has a front '${front.name}' already; give the new one another name (--name).`,
    );
  }
  const successor = new TfjsNetwork(saved.spec, saved.weights);
  const adapter = new TfjsNetwork(adapterSpec(front.name, front.features.train.shape, info.commonShape, union), undefined, run.options.seed + 1);
  run.log(
    `attaching front ${front.name} to the frozen successor in ${run.successor}: ${run.options.epochs} epochs, batch ${run.options.batchSize}, tfjs-${run.backend}`,
  );
  const { epochSeconds, loss } = await trainAdapters(
    [{ adapter, features: front.features.train, classMap: front.classMap }],
    successor,
    run.options,
    true,
    run.log,
  );
  const described = await describeFront(front, adapter, successor, 'attach', run);
  saveNetwork(join(run.successor, ADAPTERS_DIR, front.name), adapter, {
    training: {
      data: front.splits.source,
      backend: `tfjs-${run.backend}`,
      options: { ...run.options, mode: 'attach' },
      epochSeconds,
      loss,
      front: front.name,
      frontModelId: described.modelId,
    },
  });
  const next = updateManifest(run.successor, (m) => ({ ...m, shared: { ...info, fronts: [...info.fronts, described] } }));
  run.log(`front ${front.name} attached: adapter in ${join(run.successor, ADAPTERS_DIR, front.name)}`);
  for (const n of [successor, adapter, front.net]) n.dispose();
  return { info: next.shared as SharedSuccessorInfo, epochSeconds };
}
