import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createDataset, type Dataset } from '../data/index.ts';
import { TfjsNetwork } from '../engine/tfjs/network.ts';
import { loadModelDir, loadTrainState, MANIFEST_FILE, saveModelDir, saveTrainState } from '../io/model-dir.ts';
import type { FeatureShape } from '../spec/shapes.ts';
import type { LayerSpec, NetworkSpec } from '../spec/types.ts';
import type { TrainOptions } from './options.ts';
import { exitAccuracies, trainNetwork, type TrainEvent, type TrainState } from './trainer.ts';

/** Cached trunk features at one position and their labels. */
export interface FeatureSplit {
  x: Float32Array;
  y: Uint8Array;
}

/** What one head's training needs. */
export interface HeadTraining {
  boundary: FeatureShape;
  layers: LayerSpec[];
  classes: readonly string[];
  train: FeatureSplit;
  validation: FeatureSplit;
  /** Frozen mode is implied: the features are fixed, only the head learns. */
  options: TrainOptions;
  /** Checkpoint directory (a small model directory of the head); with `resume`, training continues from it. */
  checkpoint?: string;
  resume?: boolean;
  onEvent?: (event: TrainEvent) => void;
}

/** A trained head: its weights named `exit1.<layer>.<param>`, its validation accuracy and what it took. */
export interface TrainedHead {
  weights: Record<string, Float32Array>;
  validationAccuracy: number;
  /** The head's class probabilities on the validation features, [count, classes]. */
  validationProbs: Float32Array;
  seconds: number;
  epochs: number;
}

/**
 * The one-exit network a head trains in: its input is the trunk's features at the head's position (a vector is
 * carried as [1, 1, n] and flattened by the otherwise empty stage), so the trunk is not part of it at all.
 */
function headSpec(boundary: FeatureShape, layers: LayerSpec[], classes: readonly string[]): NetworkSpec {
  const flat = boundary.length !== 3;
  return {
    format: 'branchy/1',
    name: 'exit-head',
    input: { shape: flat ? [1, 1, boundary[0]] : [boundary[0], boundary[1], boundary[2]] },
    classes: [...classes],
    stages: [{ name: 'trunk features', layers: flat ? [{ type: 'flatten' }] : [] }],
    exits: [{ layers }],
    policy: { criterion: 'entropy', thresholds: [] },
  };
}

function featureDataset(split: FeatureSplit, spec: NetworkSpec): Dataset {
  return createDataset({ x: split.x, y: split.y, shape: spec.input.shape, classes: spec.classes });
}

/**
 * Trains one exit head on cached trunk features, exactly as `trainNetwork` trains (its optimiser, schedules,
 * seeds, per-epoch checkpoints and `resume`); no gradient reaches the trunk, which does not take part. Returns the
 * head's weights and figures.
 */
export async function trainHead(job: HeadTraining): Promise<TrainedHead> {
  const spec = headSpec(job.boundary, job.layers, job.classes);
  let net: TfjsNetwork;
  let resume: TrainState | undefined;
  if (job.resume && job.checkpoint && existsSync(join(job.checkpoint, MANIFEST_FILE))) {
    const saved = loadModelDir(job.checkpoint);
    const state = loadTrainState(job.checkpoint);
    net = new TfjsNetwork(spec, state.weights ?? saved.weights);
    resume = { epoch: state.epoch, optimizer: state.optimizer };
  } else net = new TfjsNetwork(spec, undefined, job.options.seed);
  const data = { train: featureDataset(job.train, spec), validation: featureDataset(job.validation, spec) };
  const started = performance.now();
  try {
    if (!resume || resume.epoch < job.options.epochs) {
      await trainNetwork(
        net,
        data,
        { ...job.options, mode: 'frozen', exitWeights: [1], augmentShift: 0, augmentFlip: false },
        {
          onEvent: job.onEvent,
          onCheckpoint: job.checkpoint
            ? (state) => {
                saveModelDir(job.checkpoint!, { spec, weights: net.weights() });
                saveTrainState(job.checkpoint!, { epoch: state.epoch, optimizer: state.optimizer, weights: net.weights(), meta: { model: spec.name } });
              }
            : undefined,
        },
        resume,
      );
    }
    const seconds = (performance.now() - started) / 1000;
    const weights: Record<string, Float32Array> = {};
    for (const [name, w] of Object.entries(net.weights())) if (name.startsWith('exit1.')) weights[name] = w;
    const v = data.validation;
    const validationProbs = (await net.exit(1, await net.stage(1, { data: v.x, shape: [v.count, ...v.shape] }))).data;
    return { weights, validationAccuracy: exitAccuracies(net, v)[0], validationProbs, seconds, epochs: job.options.epochs };
  } finally {
    net.dispose();
  }
}
