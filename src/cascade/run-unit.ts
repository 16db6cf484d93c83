import { nhwcFeatures, selectRows } from '../engine/batch.ts';
import type { Batch, LoadedNetwork, StageAndExit } from '../engine/types.ts';
import type { ExitCriterion } from '../exit/index.ts';
import { argmaxRow } from '../infer/argmax.ts';
import type { ExitResult } from '../infer/types.ts';
import type { UnitPlan } from './types.ts';

/** What one unit makes of a batch: the samples it answered, and those it hands on. */
export interface UnitRun {
  /** Per input row, its result when one of the unit's exits answered (exits numbered as in the whole network). */
  answered: (ExitResult | undefined)[];
  /** The rows not answered, in input order; empty for the last unit. */
  rows: number[];
  /** Their features after the unit's last stage, in the order of `rows`, NHWC whatever the engine's layout. */
  features?: Batch;
  /** Their result at the unit's last exit: what the unit answers when its successor cannot (`degraded`). */
  fallback: ExitResult[];
}

/**
 * Runs one unit's stages on a batch, the way the early-exit runner runs the whole network: after each of its exits
 * the samples that pass are finished and only the rest go on. The unit's stages are its network's stages 1..m,
 * which are stages `unit.stages[0]..unit.stages[1]` of the whole network; exits before `unit.firstExit` are not
 * consulted. At the unit's last exit, a sample that does not pass is handed on (unless this is the last unit,
 * whose final exit answers everything).
 *
 * @param thresholds the whole network's thresholds, one per early exit.
 * @param depth the whole network's number of stages.
 */
export async function runUnit(
  net: LoadedNetwork,
  unit: UnitPlan,
  x: Batch,
  options: { thresholds: readonly number[]; criterion: ExitCriterion; depth: number },
): Promise<UnitRun> {
  const classes = net.spec.classes.length;
  const count = x.shape[0];
  const answered = new Array<ExitResult | undefined>(count);
  const [from, last] = unit.stages;
  let active = Array.from({ length: count }, (_, i) => i);
  let features = x;
  const fallback: ExitResult[] = [];
  for (let g = from; g <= last && active.length > 0; g++) {
    const n = g - from + 1;
    if (g < unit.firstExit) {
      features = await net.stage(n, features);
      continue;
    }
    const final = g === options.depth;
    const unitLast = g === last;
    let probs: Batch;
    let fused: StageAndExit | undefined;
    // A fused call carries features on to a next stage of the same network; the unit's last stage hands them to
    // the successor instead, so there it runs stage and exit head apart (unless nothing is handed on).
    if (net.stageAndExit && !(unitLast && !final)) {
      fused = await net.stageAndExit(n, features);
      probs = fused.probs;
    } else {
      features = await net.stage(n, features);
      probs = await net.exit(n, features);
    }
    const threshold = final ? Infinity : options.thresholds[g - 1];
    const keep: number[] = [];
    for (let i = 0; i < active.length; i++) {
      const offset = i * classes;
      const score = options.criterion.score(probs.data, classes, offset);
      const result: ExitResult = { label: argmaxRow(probs.data, offset, classes), probs: probs.data.slice(offset, offset + classes), exit: g, score };
      if (score < threshold || final) answered[active[i]] = result;
      else {
        keep.push(i);
        if (unitLast) fallback.push(result);
      }
    }
    if (keep.length > 0 && !final) {
      features = fused ? await fused.features(keep) : selectRows(features, keep);
      active = keep.map((i) => active[i]);
    } else active = keep;
  }
  return { answered, rows: active, features: active.length > 0 ? nhwcFeatures(net, features) : undefined, fallback };
}
