import { Command } from 'commander';
import { mnistSplits } from '../../data/index.ts';
import { DEFAULT_TRAIN_OPTIONS } from '../../train/index.ts';
import { formatModelReport, measureModel } from '../model-report.ts';
import { openModel, SHIPPED_MODEL_DIR } from '../open-model.ts';
import { positiveInt } from '../parse.ts';
import type { TfjsBackend } from '../../engine/tfjs/index.ts';
import { addTrainOptions, runTraining, trainOptionsFrom } from './train.ts';

/** `branchy demo`. */
export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('B-LeNet on real MNIST digits: accuracy per exit and batch-1 latency with early exit vs without, measured now')
    .option('--model-dir <dir>', 'the model to show (default: the B-LeNet shipped with branchy)', SHIPPED_MODEL_DIR)
    .option('--train', "retrain the model first (writes '--model-dir')", false)
    .option('--latency-samples <n>', 'test samples timed one at a time', positiveInt('--latency-samples'), 1000);
  addTrainOptions(cmd).action(async (o: Record<string, unknown>) => {
    const dir = o.modelDir as string;
    const backend = o.backend as TfjsBackend;
    if (o.train) {
      await runTraining({
        model: 'b-lenet',
        data: 'mnist',
        out: dir,
        backend,
        options: { ...DEFAULT_TRAIN_OPTIONS, ...trainOptionsFrom(o) },
        splitSeed: o.splitSeed as number,
        resume: false,
        trainSamples: o.trainSamples as number | undefined,
        maxDrop: (o.maxDrop as number) / 100,
        log: (line) => process.stdout.write(`${line}\n`),
      });
      process.stdout.write('\n');
    }
    const { model, net } = await openModel(dir, backend);
    const splits = mnistSplits(o.splitSeed as number);
    const report = await measureModel(net, splits.test, { latencySamples: o.latencySamples as number });
    net.dispose();
    process.stdout.write(`${formatModelReport(model.spec.name, `${splits.source}, test split`, report)}\n`);
  });
  return cmd;
}
