import { BranchyArgumentError } from '../common/errors.ts';
import { selectRows } from '../engine/batch.ts';
import type { Batch, LoadedNetwork, StageAndExit } from '../engine/types.ts';
import { getCriterion, validateThresholds, type ExitCriterion } from '../exit/index.ts';
import { argmaxRow } from './argmax.ts';
import type { ExitResult, RunResult } from './types.ts';

/** How the runner decides. */
export interface EarlyExitOptions {
  /** One per early exit; default the spec's policy. */
  thresholds?: readonly number[];
  /** A registered criterion name or object; default the spec's policy. */
  criterion?: string | ExitCriterion;
  /**
   * Skip every early exit head: run the trunk and answer at the final exit, as the network without early exits
   * would. The baseline the speed-up is measured against.
   */
  finalOnly?: boolean;
}

/** Resolves criterion and thresholds from options and the spec, validated. */
export function resolvePolicy(net: LoadedNetwork, options: EarlyExitOptions): { criterion: ExitCriterion; thresholds: Float64Array } {
  const criterion = typeof options.criterion === 'object' ? options.criterion : getCriterion(options.criterion ?? net.spec.policy.criterion);
  if (options.thresholds === undefined && criterion.name !== net.spec.policy.criterion) {
    // The model's thresholds are on its own criterion's scale; applying them to another would mean nothing.
    throw new BranchyArgumentError(
      'EXIT_THRESHOLDS_REQUIRED',
      `criterion '${criterion.name}' differs from the model's ('${net.spec.policy.criterion}'); give thresholds for it too.`,
    );
  }
  const thresholds = validateThresholds(options.thresholds ?? net.spec.policy.thresholds, net.spec.stages.length - 1, criterion, net.spec.classes.length);
  return { criterion, thresholds };
}

/**
 * Early-exit inference on one batch. Runs stage 1 and exit 1 on every sample, finishes the samples whose score
 * passes exit 1's threshold, carries only the rest to stage 2, and so on; the final exit answers for whatever is
 * left. Results come back in input order. When the network offers `stageAndExit`, stage n and exit head n run as
 * one call (on the final-only path, only the last stage does: the stages before it run alone).
 *
 * Equivalent, for any thresholds, to running every exit on every sample and taking the first exit that passes.
 *
 * @example
 * const { results } = await runEarlyExit(net, { data, shape: [n, 28, 28, 1] }, { thresholds: [0.05] });
 */
export async function runEarlyExit(net: LoadedNetwork, x: Batch, options: EarlyExitOptions = {}): Promise<RunResult> {
  const { criterion, thresholds } = resolvePolicy(net, options);
  const depth = net.spec.stages.length;
  const classes = net.spec.classes.length;
  const count = x.shape[0];
  if (!Number.isInteger(count) || count < 0 || x.data.length % Math.max(count, 1) !== 0) {
    throw new BranchyArgumentError('INFER_BAD_BATCH', `batch shape [${x.shape.join(', ')}] does not match ${x.data.length} values.`);
  }
  const results = new Array<ExitResult>(count);
  const timing = { totalMs: 0, stageMs: new Array<number>(depth).fill(0), exitMs: new Array<number>(depth).fill(0), entered: new Array<number>(depth).fill(0) };
  const start = performance.now();
  let active = Array.from({ length: count }, (_, i) => i);
  let features = x;
  for (let n = 1; n <= depth && active.length > 0; n++) {
    const last = n === depth;
    timing.entered[n - 1] = active.length;
    let t = performance.now();
    if (!last && options.finalOnly) {
      features = await net.stage(n, features);
      timing.stageMs[n - 1] = performance.now() - t;
      continue;
    }
    let probs: Batch;
    let fused: StageAndExit | undefined;
    if (net.stageAndExit) {
      // One engine call for stage n and exit head n; its time, and that of carrying features on, is the stage's.
      fused = await net.stageAndExit(n, features);
      probs = fused.probs;
      timing.stageMs[n - 1] = performance.now() - t;
      t = performance.now();
    } else {
      features = await net.stage(n, features);
      timing.stageMs[n - 1] = performance.now() - t;
      t = performance.now();
      probs = await net.exit(n, features);
    }
    const keep: number[] = [];
    const threshold = last ? Infinity : thresholds[n - 1];
    for (let i = 0; i < active.length; i++) {
      const offset = i * classes;
      const score = criterion.score(probs.data, classes, offset);
      if (score < threshold || last) {
        results[active[i]] = { label: argmaxRow(probs.data, offset, classes), probs: probs.data.slice(offset, offset + classes), exit: n, score };
      } else keep.push(i);
    }
    timing.exitMs[n - 1] = performance.now() - t;
    if (!last && keep.length > 0) {
      t = performance.now();
      features = fused ? await fused.features(keep) : selectRows(features, keep);
      active = keep.map((i) => active[i]);
      timing.stageMs[n - 1] += performance.now() - t;
    } else active = keep;
  }
  timing.totalMs = performance.now() - start;
  return { results, timing };
}
