import { Command, Option } from 'commander';
import { BranchyArgumentError } from '../../common/errors.ts';
import { TFJS_BACKENDS, type TfjsBackend } from '../../engine/tfjs/index.ts';
import { DEFAULT_TRAIN_OPTIONS, LR_SCHEDULES, type LrSchedule } from '../../train/options.ts';
import { addClassMismatchOption, DATA_HELP } from '../data-source.ts';
import { positiveInt, positiveIntList, positiveNumber, share } from '../parse.ts';
import { formatTable, percent } from '../../report/text-table.ts';

/** Options `train-successor` and `attach-front` share. */
function addSharedOptions(cmd: Command): Command {
  cmd
    .option('--epochs <n>', "epochs over the largest front's train split", positiveInt('--epochs'), 10)
    .option('--batch-size <n>', 'samples of each front per step', positiveInt('--batch-size'), DEFAULT_TRAIN_OPTIONS.batchSize)
    .option('--lr <rate>', 'learning rate (at the first epoch, under a schedule)', positiveNumber('--lr'), DEFAULT_TRAIN_OPTIONS.learningRate)
    .addOption(new Option('--lr-schedule <name>', "'constant', 'cosine' or 'step'").choices([...LR_SCHEDULES]).default('cosine'))
    .option('--beta1 <b>', "Adam's β1", share('--beta1'), 0.9)
    .option('--beta2 <b>', "Adam's β2", share('--beta2'), DEFAULT_TRAIN_OPTIONS.beta2)
    .option('--seed <n>', 'seed for weights and shuffles', positiveInt('--seed'), DEFAULT_TRAIN_OPTIONS.seed)
    .option('--split-seed <n>', "seed of each data source's train/validation/test split", positiveInt('--split-seed'), 1)
    .option('--train-samples <n>', "train on only the first n samples of each front's train split", positiveInt('--train-samples'))
    .option('--test-samples <n>', 'report on only the first n samples of each test split', positiveInt('--test-samples'))
    .option(
      '--max-drop <points>',
      "when choosing each front's thresholds: the share of its validation samples, in percentage points, that its early exits may get wrong where the successor is right",
      positiveNumber('--max-drop', true),
      0.1,
    )
    .addOption(new Option('--backend <name>', 'tfjs backend').choices([...TFJS_BACKENDS]).default('wasm'));
  return addClassMismatchOption(cmd, 'for a front and its data: ');
}

function sharedRunFrom(o: Record<string, unknown>) {
  return {
    options: {
      epochs: o.epochs as number,
      batchSize: o.batchSize as number,
      learningRate: o.lr as number,
      lrSchedule: o.lrSchedule as LrSchedule,
      beta1: o.beta1 as number,
      beta2: o.beta2 as number,
      seed: o.seed as number,
    },
    backend: o.backend as TfjsBackend,
    splitSeed: o.splitSeed as number,
    trainSamples: o.trainSamples as number | undefined,
    testSamples: o.testSamples as number | undefined,
    maxDrop: (o.maxDrop as number) / 100,
    allowClassMismatch: o.allowClassMismatch as boolean,
    log: (line: string) => process.stdout.write(`${line}\n`),
  };
}

function list(value: unknown): string[] | undefined {
  return value === undefined ? undefined : (value as string).split(',').map((s) => s.trim());
}

function frontTable(fronts: readonly import('../../io/shared-successor.ts').SharedFront[]): string {
  return formatTable([
    ['front', 'cut', 'classes', 'thresholds', 'front alone', 'front + successor', 'answered at front', 'mode'],
    ...fronts.map((f) => [
      f.name,
      `${f.cut}`,
      `${f.classes.length}`,
      f.policy.thresholds.map((t) => +t.toPrecision(4)).join(', '),
      percent(f.test.frontAlone),
      percent(f.test.withSuccessor),
      percent(1 - f.test.exitShare[f.test.exitShare.length - 1], 1),
      f.mode,
    ]),
  ]);
}

/** `branchy train-successor`. */
export function trainSuccessorCommand(): Command {
  const cmd = new Command('train-successor')
    .description(
      "train one successor shared by several front-end networks, tree-style: per front a small adapter from its features to a common shape, and the successor over the union of their classes; the fronts stay frozen (their features are computed once), and each front's thresholds are chosen on its own validation split counting the successor's answers",
    )
    .requiredOption('--fronts <dir,...>', 'model directories of the trained front-ends (each with at least two stages)')
    .requiredOption('--data <source,...>', `one data source per front: ${DATA_HELP}`)
    .requiredOption('--out <dir>', 'successor directory to write (its adapters go under adapters/)')
    .option('--names <name,...>', "one name per front (default: the directories' base names); they become unit names")
    .option('--cuts <stage,...>', "per front, its last stage before the adapter (default: each front's last early exit's stage)", positiveIntList('--cuts'))
    .option('--common-shape <h,w,c>', 'the feature shape every adapter maps to and the successor takes', positiveIntList('--common-shape'), [8, 8, 16]);
  addSharedOptions(cmd).action(async (o: Record<string, unknown>) => {
    const dirs = list(o.fronts)!;
    const data = list(o.data)!;
    const names = list(o.names);
    const cuts = o.cuts as number[] | undefined;
    const mismatch = [
      ['--data', data.length],
      ['--names', names?.length ?? dirs.length],
      ['--cuts', cuts?.length ?? dirs.length],
    ].find(([, n]) => n !== dirs.length);
    if (mismatch) throw new BranchyArgumentError('CLI_BAD_OPTION', `${mismatch[0]} has ${mismatch[1]} values; --fronts names ${dirs.length} fronts.`);
    const shape = o.commonShape as number[];
    if (shape.length !== 3) throw new BranchyArgumentError('CLI_BAD_OPTION', `--common-shape is ${shape.join(',')}; expected height,width,channels.`);
    const { trainSharedSuccessor } = await import('../../train/shared-successor.ts');
    const { info } = await trainSharedSuccessor({
      ...sharedRunFrom(o),
      fronts: dirs.map((dir, i) => ({ dir, data: data[i], ...(names ? { name: names[i] } : {}), ...(cuts ? { cut: cuts[i] } : {}) })),
      out: o.out as string,
      commonShape: shape as [number, number, number],
    });
    process.stdout.write(`\n${frontTable(info.fronts)}\n`);
  });
  return cmd;
}

/** `branchy attach-front`. */
export function attachFrontCommand(): Command {
  const cmd = new Command('attach-front')
    .description(
      "attach a new front-end to an existing shared successor: trains only its adapter against the frozen successor (which keeps answering the old fronts as before) and chooses the front's thresholds counting the successor's answers",
    )
    .argument('<front-dir>', "model directory of the trained front-end; its classes must be among the successor's")
    .requiredOption('--successor <dir>', "successor directory written by 'branchy train-successor'")
    .requiredOption('--data <source>', DATA_HELP)
    .option('--name <name>', "the front's name (default: the directory's base name)")
    .option('--cut <stage>', "its last stage before the adapter (default: the front's last early exit's stage)", positiveInt('--cut'));
  addSharedOptions(cmd).action(async (dir: string, o: Record<string, unknown>) => {
    const { attachFront } = await import('../../train/shared-successor.ts');
    const { info } = await attachFront({
      ...sharedRunFrom(o),
      front: {
        dir,
        data: o.data as string,
        ...(o.name === undefined ? {} : { name: o.name as string }),
        ...(o.cut === undefined ? {} : { cut: o.cut as number }),
      },
      successor: o.successor as string,
    });
    process.stdout.write(`\n${frontTable(info.fronts)}\n`);
  });
  return cmd;
}
