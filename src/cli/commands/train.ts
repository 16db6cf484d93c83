import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { chooseThresholdsForAccuracy } from '../../calibrate/index.ts';
import { TFJS_BACKENDS, useBackend, type TfjsBackend } from '../../engine/tfjs/index.ts';
import { TfjsNetwork } from '../../engine/tfjs/network.ts';
import { getCriterion } from '../../exit/index.ts';
import { allExitsOver } from '../../infer/index.ts';
import { loadModelDir, loadTrainState, MANIFEST_FILE, saveModelDir, saveTrainState, updateManifest } from '../../io/index.ts';
import type { NetworkSpec, Normalization } from '../../spec/types.ts';
import { DEFAULT_TRAIN_OPTIONS, exitAccuracies, initFromBaseline, LR_SCHEDULES, OPTIMIZERS, trainNetwork, type LrSchedule, type OptimizerName, type TrainMode, type TrainOptions, type TrainState } from '../../train/index.ts';
import { zooModel } from '../../zoo/index.ts';
import { channelStats, subset, type Dataset, type DatasetSplits } from '../../data/index.ts';
import { DATA_HELP, loadDataSource } from '../data-source.ts';
import { trainProgress } from '../progress.ts';
import { formatTable, percent } from '../table.ts';
import { nonNegativeInt, numberList, positiveInt, positiveIntList, positiveNumber, share } from '../parse.ts';

/** Everything a training run needs; `branchy train` and `branchy demo --train` both build one. */
export interface TrainRun {
  model: string;
  data: string;
  out: string;
  backend: TfjsBackend;
  options: TrainOptions;
  /** Seed of the train/validation/test split. */
  splitSeed: number;
  initFrom?: string;
  resume: boolean;
  /** Train on only the first n samples of the (already shuffled) train split. */
  trainSamples?: number;
  /** Largest validation accuracy loss (a share) allowed when choosing thresholds at the end. */
  maxDrop: number;
  /**
   * Store per-channel mean and std of the train split in the spec, so every engine normalises inputs before stage 1
   * (default true). With `initFrom`, the baseline's normalisation is kept instead, since its trunk learned on it.
   */
  normalize?: boolean;
  log: (line: string) => void;
  /** The splits `data` names, when the caller has loaded them already. */
  splits?: DatasetSplits;
}

/** What `runTraining` hands back. */
export interface TrainingOutcome {
  spec: NetworkSpec;
  validationAccuracy: number[];
  testAccuracy: number[];
  /** Samples trained on per epoch. */
  trainSamples: number;
  /** Wall-clock seconds of each epoch, resumed ones included. */
  epochSeconds: number[];
}

/**
 * Trains a zoo network, checkpointing after every epoch, then chooses exit thresholds on the validation split
 * and writes the finished model directory.
 */
export async function runTraining(run: TrainRun): Promise<TrainingOutcome> {
  await useBackend(run.backend);
  const loaded = run.splits ?? loadDataSource(run.data, run.splitSeed);
  const limit = run.trainSamples ?? loaded.train.count;
  const splits = limit < loaded.train.count ? { ...loaded, train: subset(loaded.train, Uint32Array.from({ length: limit }, (_, i) => i)), source: `${loaded.source}, first ${limit} train samples` } : loaded;
  let net: TfjsNetwork;
  let resumeState: TrainState | undefined;
  let options = run.options;
  const history: Record<string, unknown>[] = [];
  if (run.resume) {
    if (!existsSync(join(run.out, MANIFEST_FILE))) throw new BranchyArgumentError('TRAIN_NOTHING_TO_RESUME', `'--resume': '${run.out}' holds no checkpoint to resume from.`);
    const saved = loadModelDir(run.out);
    const state = loadTrainState(run.out);
    const previous = (saved.manifest.training?.options ?? {}) as Partial<TrainOptions>;
    options = { ...options, ...previous, epochs: run.options.epochs };
    net = new TfjsNetwork(saved.spec, saved.weights);
    resumeState = { epoch: state.epoch, optimizer: state.optimizer };
    const previousHistory = saved.manifest.training?.history;
    if (Array.isArray(previousHistory)) history.push(...previousHistory.slice(0, state.epoch));
    run.log(`resuming '${run.out}' after epoch ${state.epoch} of ${options.epochs}`);
  } else {
    const baseline = run.initFrom ? loadModelDir(run.initFrom) : undefined;
    const normalization = baseline ? baseline.spec.input.normalization : run.normalize === false ? undefined : normalizationOf(splits.train);
    const spec = zooModel(run.model).build({ classes: [...splits.train.classes], normalization });
    net = new TfjsNetwork(spec, undefined, options.seed);
    if (baseline) {
      const copied = initFromBaseline(net, baseline);
      run.log(`initialised ${copied} trunk weight tensors from '${run.initFrom}'`);
    }
  }
  const training = () => ({
    data: splits.source,
    backend: `tfjs-${run.backend}`,
    options,
    initFrom: run.initFrom,
    history,
  });
  run.log(`training ${net.spec.name} on ${splits.source} (${splits.train.count} train, ${splits.validation.count} validation), ${options.mode}, ${options.epochs} epochs, batch ${options.batchSize}, tfjs-${run.backend}`);
  await trainNetwork(
    net,
    splits,
    options,
    {
      onEvent: trainProgress(),
      onCheckpoint: (state, end) => {
        history.push({ epoch: end.epoch, loss: end.loss, validationAccuracy: end.validationAccuracy, seconds: end.seconds, samplesPerSecond: end.samplesPerSecond });
        saveModelDir(run.out, { spec: net.spec, weights: net.weights() }, { training: training() });
        saveTrainState(run.out, { epoch: state.epoch, optimizer: state.optimizer, meta: { model: net.spec.name } });
      },
    },
    resumeState,
  );

  let spec = net.spec;
  const validationAccuracy = exitAccuracies(net, splits.validation);
  const testAccuracy = exitAccuracies(net, splits.test);
  if (spec.stages.length > 1) {
    const criterion = getCriterion(spec.policy.criterion);
    const table = await allExitsOver(net, splits.validation);
    const choice = chooseThresholdsForAccuracy(table, splits.validation.y, criterion, run.maxDrop);
    spec = { ...spec, policy: { ...spec.policy, thresholds: choice.thresholds } };
    run.log(`thresholds chosen on the validation split (early exits may lose at most ${(100 * run.maxDrop).toFixed(2)} points against the final exit): [${choice.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], validation accuracy ${percent(choice.accuracy)} vs final exit ${percent(choice.finalAccuracy)}, leaving at each exit ${choice.exitShare.map((s) => percent(s, 1)).join(' / ')}`);
  }
  updateManifest(run.out, (m) => ({ ...m, spec, training: { ...training(), validationAccuracy, testAccuracy, thresholdChoice: { split: 'validation', maxDrop: run.maxDrop } } }));
  run.log(
    formatTable([
      ['exit', 'validation accuracy', 'test accuracy'],
      ...validationAccuracy.map((a, i) => [`${i + 1}`, percent(a), percent(testAccuracy[i])]),
    ]),
  );
  run.log(`model written to ${run.out}`);
  net.dispose();
  return { spec, validationAccuracy, testAccuracy, trainSamples: splits.train.count, epochSeconds: history.map((h) => Number(h.seconds)) };
}

/** Per-channel mean and std of a train split, as stored in a spec; a constant channel gets std 1 (left unscaled). */
export function normalizationOf(train: Dataset): Normalization {
  const stats = channelStats(train);
  return { mean: stats.mean.map((m) => +m.toPrecision(6)), std: stats.std.map((s) => (s > 0 ? +s.toPrecision(6) : 1)) };
}

/** Options shared by `train` and `demo --train`. */
export function addTrainOptions(cmd: Command): Command {
  return cmd
    .option('--epochs <n>', 'epochs to train', positiveInt('--epochs'), DEFAULT_TRAIN_OPTIONS.epochs)
    .option('--batch-size <n>', 'samples per step', positiveInt('--batch-size'), DEFAULT_TRAIN_OPTIONS.batchSize)
    .option('--micro-batch <n>', 'run each batch forward and backward in parts of at most n samples and apply their summed gradients once (for networks whose activations outgrow memory, e.g. 32 for b-resnet110)', positiveInt('--micro-batch'))
    .addOption(new Option('--optimizer <name>', "'adam' (the paper) or 'sgd' (with momentum)").choices([...OPTIMIZERS]).default('adam'))
    .option('--lr <rate>', 'learning rate (at the first epoch, under a schedule)', positiveNumber('--lr'), DEFAULT_TRAIN_OPTIONS.learningRate)
    .addOption(new Option('--lr-schedule <name>', "'constant' (the paper), 'cosine' (decays to 0 over the epochs) or 'step' (multiplied by --lr-gamma after each epoch in --lr-steps)").choices([...LR_SCHEDULES]).default('constant'))
    .option('--lr-steps <e,...>', "with --lr-schedule step: the epochs after which the rate drops (default: after half and three quarters of the epochs)", positiveIntList('--lr-steps'))
    .option('--lr-gamma <g>', 'with --lr-schedule step: the factor of each drop', positiveNumber('--lr-gamma'), 0.1)
    .option('--beta1 <b>', "Adam's β1 (the paper: 0.99)", share('--beta1'), DEFAULT_TRAIN_OPTIONS.beta1)
    .option('--beta2 <b>', "Adam's β2", share('--beta2'), DEFAULT_TRAIN_OPTIONS.beta2)
    .option('--momentum <m>', "SGD's momentum", share('--momentum'), 0.9)
    .option('--exit-weights <w,...>', 'loss weight per exit (default 1 on early exits, 0.3 on the final one)', numberList('--exit-weights'))
    .addOption(new Option('--mode <mode>', "'joint' trains everything; 'frozen' trains only the exit heads").choices(['joint', 'frozen']).default('joint'))
    .option('--seed <n>', 'seed for weights, shuffles and dropout', positiveInt('--seed'), DEFAULT_TRAIN_OPTIONS.seed)
    .option('--split-seed <n>', 'seed of the train/validation/test split', positiveInt('--split-seed'), 1)
    .option('--augment-shift <px>', "shift training images by up to this many pixels at random, filling with zeros (0 = off); the same as CIFAR's 'pad by px, crop at random'", nonNegativeInt('--augment-shift'), 0)
    .option('--augment-flip', 'mirror training images left to right at random (CIFAR-10)', false)
    .option('--no-normalize', "do not store the train split's per-channel mean and std in the model (inputs then reach stage 1 as they are)")
    .option('--train-samples <n>', 'train on only the first n samples of the train split (quick runs)', positiveInt('--train-samples'))
    .option('--max-drop <points>', 'when choosing thresholds: the share of validation samples, in percentage points, that early exits may get wrong where the final exit is right', positiveNumber('--max-drop', true), 0.1)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices([...TFJS_BACKENDS]).default('wasm'));
}

/** Reads the options `addTrainOptions` declared. */
export function trainOptionsFrom(o: Record<string, unknown>): TrainOptions {
  return {
    mode: o.mode as TrainMode,
    epochs: o.epochs as number,
    batchSize: o.batchSize as number,
    microBatch: o.microBatch as number | undefined,
    optimizer: o.optimizer as OptimizerName,
    learningRate: o.lr as number,
    beta1: o.beta1 as number,
    beta2: o.beta2 as number,
    momentum: o.momentum as number,
    exitWeights: o.exitWeights as number[] | undefined,
    seed: o.seed as number,
    augmentShift: o.augmentShift as number,
    augmentFlip: o.augmentFlip as boolean,
    lrSchedule: o.lrSchedule as LrSchedule,
    lrStepEpochs: o.lrSteps as number[] | undefined,
    lrGamma: o.lrGamma as number,
  };
}

/** `branchy train`. */
export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a zoo network (jointly over all exits, or only its exit heads), checkpointing every epoch')
    .requiredOption('--model <name>', "zoo network, e.g. 'b-lenet' or 'lenet'")
    .option('--data <source>', DATA_HELP, 'mnist')
    .requiredOption('--out <dir>', 'model directory to write (branchy.json + weights)')
    .option('--init-from <dir>', 'initialise the trunk from a trained baseline (e.g. lenet for b-lenet)')
    .option('--resume', "continue from the checkpoint in '--out'", false);
  addTrainOptions(cmd).action(async (o: Record<string, unknown>) => {
    await runTraining({
      model: o.model as string,
      data: o.data as string,
      out: o.out as string,
      backend: o.backend as TfjsBackend,
      options: trainOptionsFrom(o),
      splitSeed: o.splitSeed as number,
      initFrom: o.initFrom as string | undefined,
      resume: o.resume as boolean,
      trainSamples: o.trainSamples as number | undefined,
      maxDrop: (o.maxDrop as number) / 100,
      normalize: o.normalize as boolean,
      log: (line) => process.stdout.write(`${line}\n`),
    });
  });
  return cmd;
}
