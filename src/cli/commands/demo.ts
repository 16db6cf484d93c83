import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { mnistSplits } from '../../data/index.ts';
import type { TfjsBackend } from '../../engine/tfjs/index.ts';
import { TRAIN_STATE_FILE } from '../../io/index.ts';
import { SHIPPED_RECIPE } from '../../train/recipes.ts';
import { measureModel } from '../../infer/index.ts';
import { formatModelReport } from '../model-report.ts';
import { SHIPPED_BASELINE_DIR, SHIPPED_MODEL_DIR } from '../../io/shipped-models.ts';
import { exportModelDirOnnx } from '../../open/export-onnx.ts';
import { openModel } from '../../open/open-model.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { positiveInt } from '../parse.ts';
import { trainWithProgress } from '../training.ts';

/** `branchy demo`. */
export function demoCommand(): Command {
  return addEngineOptions(
    new Command('demo')
      .description('B-LeNet on real MNIST digits: accuracy per exit and batch-1 latency with early exit vs without, measured now')
      .option('--model-dir <dir>', 'the model to show (default: the B-LeNet shipped with branchy)', SHIPPED_MODEL_DIR)
      .option(
        '--train',
        "retrain first, with the shipped recipe: LeNet into '--baseline-dir', then B-LeNet from it into '--model-dir' (about 10 minutes on 2 cores)",
        false,
      )
      .option('--baseline-dir <dir>', 'where --train writes the LeNet baseline', SHIPPED_BASELINE_DIR)
      .option('--baseline-epochs <n>', 'epochs of the LeNet baseline with --train', positiveInt('--baseline-epochs'), 30)
      .option('--epochs <n>', 'epochs of joint B-LeNet training with --train', positiveInt('--epochs'), 20)
      .option('--seed <n>', 'seed for weights, shuffles and augmentation with --train', positiveInt('--seed'), 1)
      .option('--latency-samples <n>', 'test samples timed one at a time', positiveInt('--latency-samples'), 1000),
  ).action(async (o: Record<string, unknown>) => {
    const dir = o.modelDir as string;
    const backend = o.backend as TfjsBackend;
    const log = (line: string) => process.stdout.write(`${line}\n`);
    if (o.train) {
      const common = { data: 'mnist', backend, splitSeed: 1, resume: false, maxDrop: 0.001, normalize: false, log };
      const seed = o.seed as number;
      const baselineDir = o.baselineDir as string;
      await trainWithProgress({ ...common, model: 'lenet', out: baselineDir, options: { ...SHIPPED_RECIPE, epochs: o.baselineEpochs as number, seed } });
      await trainWithProgress({
        ...common,
        model: 'b-lenet',
        out: dir,
        initFrom: baselineDir,
        options: { ...SHIPPED_RECIPE, epochs: o.epochs as number, seed },
      });
      // Optimizer state only matters for --resume; the shipped directories stay small without it. The ONNX files
      // are written again so that the new weights run on onnxruntime as the shipped ones do.
      for (const d of [baselineDir, dir]) {
        rmSync(join(d, TRAIN_STATE_FILE), { force: true });
        exportModelDirOnnx(d);
      }
      log('');
    }
    const { model, net } = await openModel(dir, engineOptions(o));
    const splits = mnistSplits(1);
    const report = await measureModel(net, splits.test, { latencySamples: o.latencySamples as number });
    net.dispose();
    log(formatModelReport(model.spec.name, `${splits.source}, test split`, report));
  });
}
