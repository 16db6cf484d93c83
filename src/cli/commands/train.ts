import { Command, Option } from 'commander';
import { TFJS_BACKENDS, type TfjsBackend } from '../../engine/tfjs/index.ts';
import {
  DEFAULT_TRAIN_OPTIONS,
  LR_SCHEDULES,
  OPTIMIZERS,
  type LrSchedule,
  type OptimizerName,
  type TrainMode,
  type TrainOptions,
} from '../../train/options.ts';
import { addClassMismatchOption, DATA_HELP } from '../data-source.ts';
import { nonNegativeInt, numberList, positiveInt, positiveIntList, positiveNumber, share } from '../parse.ts';
import { trainWithProgress } from '../training.ts';

/** The optimiser's options, shared by `train`, `demo --train`, `add-exits` and `search-exits`. */
export function addOptimizerOptions(cmd: Command, epochs = DEFAULT_TRAIN_OPTIONS.epochs): Command {
  return cmd
    .option('--epochs <n>', 'epochs to train', positiveInt('--epochs'), epochs)
    .option('--batch-size <n>', 'samples per step', positiveInt('--batch-size'), DEFAULT_TRAIN_OPTIONS.batchSize)
    .option(
      '--micro-batch <n>',
      'run each batch forward and backward in parts of at most n samples and apply their summed gradients once (for networks whose activations outgrow memory, e.g. 32 for b-resnet110)',
      positiveInt('--micro-batch'),
    )
    .addOption(new Option('--optimizer <name>', "'adam' (the paper) or 'sgd' (with momentum)").choices([...OPTIMIZERS]).default('adam'))
    .option('--lr <rate>', 'learning rate (at the first epoch, under a schedule)', positiveNumber('--lr'), DEFAULT_TRAIN_OPTIONS.learningRate)
    .addOption(
      new Option(
        '--lr-schedule <name>',
        "'constant' (the paper), 'cosine' (decays to 0 over the epochs) or 'step' (multiplied by --lr-gamma after each epoch in --lr-steps)",
      )
        .choices([...LR_SCHEDULES])
        .default('constant'),
    )
    .option(
      '--lr-steps <e,...>',
      'with --lr-schedule step: the epochs after which the rate drops (default: after half and three quarters of the epochs)',
      positiveIntList('--lr-steps'),
    )
    .option('--lr-gamma <g>', 'with --lr-schedule step: the factor of each drop', positiveNumber('--lr-gamma'), 0.1)
    .option('--beta1 <b>', "Adam's β1 (the paper: 0.99)", share('--beta1'), DEFAULT_TRAIN_OPTIONS.beta1)
    .option('--beta2 <b>', "Adam's β2", share('--beta2'), DEFAULT_TRAIN_OPTIONS.beta2)
    .option('--momentum <m>', "SGD's momentum", share('--momentum'), 0.9)
    .option('--seed <n>', 'seed for weights, shuffles and dropout', positiveInt('--seed'), DEFAULT_TRAIN_OPTIONS.seed)
    .option('--train-samples <n>', 'train on only the first n samples of the train split (quick runs)', positiveInt('--train-samples'))
    .addOption(new Option('--backend <name>', 'tfjs backend').choices([...TFJS_BACKENDS]).default('wasm'));
}

/** Options shared by `train` and `demo --train`. */
export function addTrainOptions(cmd: Command): Command {
  return addOptimizerOptions(cmd)
    .option('--exit-weights <w,...>', 'loss weight per exit (default 1 on early exits, 0.3 on the final one)', numberList('--exit-weights'))
    .addOption(new Option('--mode <mode>', "'joint' trains everything; 'frozen' trains only the exit heads").choices(['joint', 'frozen']).default('joint'))
    .option('--split-seed <n>', 'seed of the train/validation/test split', positiveInt('--split-seed'), 1)
    .option(
      '--augment-shift <px>',
      "shift training images by up to this many pixels at random, filling with zeros (0 = off); the same as CIFAR's 'pad by px, crop at random'",
      nonNegativeInt('--augment-shift'),
      0,
    )
    .option('--augment-flip', 'mirror training images left to right at random (CIFAR-10)', false)
    .option('--no-normalize', "do not store the train split's per-channel mean and std in the model (inputs then reach stage 1 as they are)")
    .option(
      '--max-drop <points>',
      'when choosing thresholds: the share of validation samples, in percentage points, that early exits may get wrong where the final exit is right',
      positiveNumber('--max-drop', true),
      0.1,
    );
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
  addClassMismatchOption(cmd, 'with --init-from or --resume: ');
  addTrainOptions(cmd).action(async (o: Record<string, unknown>) => {
    await trainWithProgress({
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
      allowClassMismatch: o.allowClassMismatch as boolean,
      log: (line) => process.stdout.write(`${line}\n`),
    });
  });
  return cmd;
}
