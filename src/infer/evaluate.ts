import type { Batch, LoadedNetwork } from '../engine/types.ts';
import { firstPassingExit } from '../exit/index.ts';
import { checkDataMatchesModel, type DataMatchOptions } from '../spec/data-match.ts';
import { argmaxRow } from './argmax.ts';
import { concatAllExits, runAllExits, type AllExitsResult } from './all-exits.ts';
import { resolvePolicy, runEarlyExit, type EarlyExitOptions } from './runner.ts';

/** Labelled samples, NHWC row-major (any data set shaped like this will do). */
export interface LabelledSamples {
  readonly x: Float32Array;
  readonly y: Uint8Array;
  readonly shape: readonly number[];
  readonly count: number;
  /** Class names, indexed by the labels (a `Dataset` has them); when present they must be the network's. */
  readonly classes?: readonly string[];
  /** The classes are numbered, not named (a `Dataset` read from IDX files): only their count must be the network's. */
  readonly unnamedClasses?: boolean;
}

/** Accuracy of every exit and of the early-exit decision on a set of samples. */
export interface ExitEvaluation {
  count: number;
  criterion: string;
  thresholds: number[];
  /** Accuracy of exit n (index n-1) if it answered for every sample. */
  exitAccuracy: number[];
  /** Share of samples that leave at exit n under the thresholds. */
  exitShare: number[];
  /** Accuracy among the samples that leave at exit n (NaN where none leave). */
  leavingAccuracy: number[];
  /** Accuracy of the early-exit answers. */
  accuracy: number;
  /** Accuracy of the final exit alone (the network without early exits). */
  finalAccuracy: number;
}

/** The all-exits pass over a whole sample set, in batches. */
export async function allExitsOver(net: LoadedNetwork, samples: LabelledSamples, batchSize = 256): Promise<AllExitsResult> {
  return allExitsInBatches((x) => runAllExits(net, x), samples, batchSize);
}

/** Any all-exits pass (`run`, on one batch) over a whole sample set, in batches of at most `batchSize`. */
export async function allExitsInBatches(
  run: (x: Batch) => Promise<AllExitsResult>,
  samples: Pick<LabelledSamples, 'x' | 'count' | 'shape'>,
  batchSize = 256,
): Promise<AllExitsResult> {
  const row = samples.x.length / samples.count;
  const parts: AllExitsResult[] = [];
  for (let start = 0; start < samples.count; start += batchSize) {
    const n = Math.min(batchSize, samples.count - start);
    parts.push(await run({ data: samples.x.subarray(start * row, (start + n) * row), shape: [n, ...samples.shape] }));
  }
  return concatAllExits(parts);
}

/**
 * Scores every exit on a sample set and applies the thresholds to the all-exits table: per-exit accuracy, the
 * share leaving at each exit and the early-exit accuracy. (The answers equal `runEarlyExit`'s by construction;
 * the tests hold the two to it.)
 *
 * @throws BranchyDataError `DATA_MODEL_MISMATCH` when the samples' shape, or their class names and order (unless
 *   `allowClassMismatch`), differ from the network's.
 */
export async function evaluateExits(
  net: LoadedNetwork,
  samples: LabelledSamples,
  options: EarlyExitOptions & DataMatchOptions & { batchSize?: number } = {},
): Promise<ExitEvaluation> {
  checkDataMatchesModel(net.spec, samples, options);
  const { criterion, thresholds } = resolvePolicy(net, options);
  const table = await allExitsOver(net, samples, options.batchSize);
  const depth = table.probs.length;
  const C = table.classes;
  const correct = new Array<number>(depth).fill(0);
  const leaving = new Array<number>(depth).fill(0);
  const leavingCorrect = new Array<number>(depth).fill(0);
  const scores = new Float64Array(depth);
  let earlyCorrect = 0;
  for (let i = 0; i < table.count; i++) {
    const label = samples.y[i];
    for (let n = 0; n < depth; n++) {
      scores[n] = criterion.score(table.probs[n], C, i * C);
      if (argmaxRow(table.probs[n], i * C, C) === label) correct[n]++;
    }
    const e = firstPassingExit(scores, thresholds);
    leaving[e]++;
    if (argmaxRow(table.probs[e], i * C, C) === label) {
      leavingCorrect[e]++;
      earlyCorrect++;
    }
  }
  const N = table.count;
  return {
    count: N,
    criterion: criterion.name,
    thresholds: [...thresholds],
    exitAccuracy: correct.map((c) => c / N),
    exitShare: leaving.map((l) => l / N),
    leavingAccuracy: leaving.map((l, n) => (l === 0 ? NaN : leavingCorrect[n] / l)),
    accuracy: earlyCorrect / N,
    finalAccuracy: correct[depth - 1] / N,
  };
}

/** Batch-1 latency of a network over samples, early exit or final exit only. */
export interface LatencyMeasurement {
  samples: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  accuracy: number;
  /** Share of samples answered at each exit. */
  exitShare: number[];
}

/**
 * Runs `samples` one at a time through the early-exit runner (as a device answering one request would) after
 * `warmup` untimed runs, and reports the latency per sample. Each timer covers stages, exit heads and criterion.
 *
 * @throws BranchyDataError `DATA_MODEL_MISMATCH` as {@link evaluateExits}.
 */
export async function measureLatency(
  net: LoadedNetwork,
  samples: LabelledSamples,
  options: EarlyExitOptions & DataMatchOptions & { count?: number; warmup?: number } = {},
): Promise<LatencyMeasurement> {
  checkDataMatchesModel(net.spec, samples, options);
  const row = samples.x.length / samples.count;
  const count = Math.min(options.count ?? samples.count, samples.count);
  const one = (i: number) => ({ data: samples.x.subarray(i * row, (i + 1) * row), shape: [1, ...samples.shape] });
  const warmup = Math.min(options.warmup ?? 20, count);
  for (let i = 0; i < warmup; i++) await runEarlyExit(net, one(i), options);
  const times = new Float64Array(count);
  const exits = new Array<number>(net.spec.stages.length).fill(0);
  let correct = 0;
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const { results } = await runEarlyExit(net, one(i), options);
    times[i] = performance.now() - t;
    exits[results[0].exit - 1]++;
    if (results[0].label === samples.y[i]) correct++;
  }
  const sorted = Float64Array.from(times).sort();
  return {
    samples: count,
    meanMs: times.reduce((a, b) => a + b, 0) / count,
    p50Ms: sorted[Math.floor(0.5 * (count - 1))],
    p95Ms: sorted[Math.floor(0.95 * (count - 1))],
    accuracy: correct / count,
    exitShare: exits.map((e) => e / count),
  };
}
