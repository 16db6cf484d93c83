import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chooseThresholdsForAccuracy } from '../calibrate/index.ts';
import { BranchyArgumentError } from '../common/errors.ts';
import { channelStats, loadDataSource, subset, type Dataset, type DatasetSplits } from '../data/index.ts';
import { useBackend } from '../engine/tfjs/backend.ts';
import type { TfjsBackend } from '../engine/tfjs/backend-name.ts';
import { TfjsNetwork } from '../engine/tfjs/network.ts';
import { getCriterion } from '../exit/index.ts';
import { allExitsOver } from '../infer/index.ts';
import { loadModelDir, loadTrainState, MANIFEST_FILE, saveModelDir, saveTrainState, updateManifest } from '../io/index.ts';
import { formatTable, percent } from '../report/text-table.ts';
import { checkSplitsMatchModel } from '../spec/data-match.ts';
import type { NetworkSpec, Normalization } from '../spec/types.ts';
import { zooModel } from '../zoo/index.ts';
import { initFromBaseline } from './init-from.ts';
import type { TrainOptions } from './options.ts';
import { exitAccuracies, trainNetwork, type TrainEvent, type TrainState } from './trainer.ts';

/** Everything a training run needs (`branchy train`, `branchy demo --train` and `branchy reproduce` build one). */
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
  /** Progress lines (the run's settings, chosen thresholds, the accuracy table). */
  log: (line: string) => void;
  /** Training events (epoch starts, steps, epoch ends), e.g. for a progress bar. */
  onEvent?: (event: TrainEvent) => void;
  /** The splits `data` names, when the caller has loaded them already. */
  splits?: DatasetSplits;
  /**
   * Train on data whose class names differ from those of the `initFrom` baseline or the checkpoint resumed (label n
   * then means the model's class n, and the model keeps its class names). The input shape must match all the same.
   */
  allowClassMismatch?: boolean;
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
 * Trains a zoo network, checkpointing after every epoch into `run.out`, then chooses exit thresholds on the
 * validation split and writes the finished model directory.
 *
 * @throws BranchyArgumentError `TRAIN_NOTHING_TO_RESUME` when `resume` is set and `out` holds no checkpoint;
 *   BranchyDataError `DATA_MODEL_MISMATCH` when the data's sample shape, or its class names and order (unless
 *   `allowClassMismatch`), differ from the checkpoint's, the baseline's or the zoo network's input; the errors of the
 *   data loaders, `trainNetwork` and `initFromBaseline`.
 */
export async function runTraining(run: TrainRun): Promise<TrainingOutcome> {
  await useBackend(run.backend);
  const loaded = run.splits ?? loadDataSource(run.data, run.splitSeed);
  const limit = run.trainSamples ?? loaded.train.count;
  const splits =
    limit < loaded.train.count
      ? {
          ...loaded,
          train: subset(
            loaded.train,
            Uint32Array.from({ length: limit }, (_, i) => i),
          ),
          source: `${loaded.source}, first ${limit} train samples`,
        }
      : loaded;
  let net: TfjsNetwork;
  let resumeState: TrainState | undefined;
  let options = run.options;
  const history: Record<string, unknown>[] = [];
  const match = { allowClassMismatch: run.allowClassMismatch };
  if (run.resume) {
    if (!existsSync(join(run.out, MANIFEST_FILE)))
      throw new BranchyArgumentError('TRAIN_NOTHING_TO_RESUME', `cannot resume: '${run.out}' holds no checkpoint to resume from.`);
    const saved = loadModelDir(run.out);
    checkSplitsMatchModel(saved.spec, splits, match);
    const state = loadTrainState(run.out);
    const previous = (saved.manifest.training?.options ?? {}) as Partial<TrainOptions>;
    options = { ...options, ...previous, epochs: run.options.epochs };
    // The checkpoint's own copy of the weights: the model files may be an epoch ahead of it after a kill.
    net = new TfjsNetwork(saved.spec, state.weights ?? saved.weights);
    resumeState = { epoch: state.epoch, optimizer: state.optimizer };
    const previousHistory = saved.manifest.training?.history;
    if (Array.isArray(previousHistory)) history.push(...previousHistory.slice(0, state.epoch));
    run.log(`resuming '${run.out}' after epoch ${state.epoch} of ${options.epochs}`);
  } else {
    const baseline = run.initFrom ? loadModelDir(run.initFrom) : undefined;
    if (baseline) checkSplitsMatchModel(baseline.spec, splits, match);
    const normalization = baseline ? baseline.spec.input.normalization : run.normalize === false ? undefined : normalizationOf(splits.train);
    // The baseline's classifier is copied, so its class names stay (they differ from the data's only when allowed).
    const spec = zooModel(run.model).build({ classes: [...(baseline?.spec.classes ?? splits.train.classes)], normalization });
    checkSplitsMatchModel(spec, splits, match);
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
  run.log(
    `training ${net.spec.name} on ${splits.source} (${splits.train.count} train, ${splits.validation.count} validation), ${options.mode}, ${options.epochs} epochs, batch ${options.batchSize}, tfjs-${run.backend}`,
  );
  await trainNetwork(
    net,
    splits,
    options,
    {
      onEvent: run.onEvent,
      onCheckpoint: (state, end) => {
        history.push({
          epoch: end.epoch,
          loss: end.loss,
          validationAccuracy: end.validationAccuracy,
          seconds: end.seconds,
          samplesPerSecond: end.samplesPerSecond,
        });
        saveModelDir(run.out, { spec: net.spec, weights: net.weights() }, { training: training() });
        saveTrainState(run.out, { epoch: state.epoch, optimizer: state.optimizer, weights: net.weights(), meta: { model: net.spec.name } });
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
    run.log(
      `thresholds chosen on the validation split (early exits may lose at most ${(100 * run.maxDrop).toFixed(2)} points against the final exit): [${choice.thresholds.map((t) => +t.toPrecision(4)).join(', ')}], validation accuracy ${percent(choice.accuracy)} vs final exit ${percent(choice.finalAccuracy)}, leaving at each exit ${choice.exitShare.map((s) => percent(s, 1)).join(' / ')}`,
    );
  }
  updateManifest(run.out, (m) => ({
    ...m,
    spec,
    training: { ...training(), validationAccuracy, testAccuracy, thresholdChoice: { split: 'validation', maxDrop: run.maxDrop } },
  }));
  run.log(
    formatTable([['exit', 'validation accuracy', 'test accuracy'], ...validationAccuracy.map((a, i) => [`${i + 1}`, percent(a), percent(testAccuracy[i])])]),
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
