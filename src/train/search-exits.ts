import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  chooseGuardedPoint,
  chooseOperatingPoint,
  isGuarded,
  paretoFront,
  profileCosts,
  type GuardedConstraint,
  type ParetoPoint,
} from '../calibrate/index.ts';
import { BranchyArgumentError } from '../common/errors.ts';
import type { DatasetSplits } from '../data/index.ts';
import type { OrtModule } from '../engine/ort/index.ts';
import { useBackend } from '../engine/tfjs/backend.ts';
import type { TfjsBackend } from '../engine/tfjs/backend-name.ts';
import { getCriterion } from '../exit/index.ts';
import { allExitsOver, argmaxRow, type AllExitsResult } from '../infer/index.ts';
import { loadModelDir, updateManifest } from '../io/model-dir.ts';
import { openModel } from '../open/open-model.ts';
import { checkSplitsMatchModel } from '../spec/data-match.ts';
import { cachedSplits, firstSamples, writeWithHeads, type PlacedHead } from './add-exits.ts';
import { headLayers, type BuiltInHead } from './exit-heads.ts';
import { trainHead } from './head-training.ts';
import type { TrainOptions } from './options.ts';
import { checkPositions, trunkCut } from './trunk-cut.ts';

/** Everything `searchExits` needs. */
export interface SearchExitsRun {
  from: string;
  /** Where to write the chosen network. */
  out: string;
  heads: readonly BuiltInHead[];
  /** Candidate positions (see `TrunkCut`); default every position of the trunk. */
  positions?: readonly number[];
  /** Most early exits in a chosen set. */
  maxExits: number;
  /** The accuracy budget on the validation split. */
  constraint: { maxDrop: number } | GuardedConstraint;
  splits: DatasetSplits;
  options: TrainOptions;
  backend: TfjsBackend;
  trainSamples?: number;
  /** Samples timed one at a time per candidate network when profiling costs. */
  profileSamples: number;
  ort: () => Promise<OrtModule>;
  log: (line: string) => void;
  /** Accept data whose class names differ from the network's (label n then means its class n); the shape must match. */
  allowClassMismatch?: boolean;
}

/** One trained candidate: a head kind at a position, with what it reaches and costs. */
export interface ExitCandidate {
  position: number;
  where: string;
  head: BuiltInHead;
  validationAccuracy: number;
  /** Batch-1 ms of the head alone (criterion included). */
  headMs: number;
  /** Batch-1 ms of the trunk up to the position. */
  trunkMs: number;
  /** With this exit alone: the share leaving there at the budget, and the expected cost per sample. */
  alone: { share: number; expectedMs: number };
  chosen: boolean;
  /** Kept from the search: the head's weights and validation probabilities. */
  weights: Record<string, Float32Array>;
  probs: Float32Array;
}

/** What `searchExits` found. */
export interface SearchOutcome {
  runtime: string;
  candidates: ExitCandidate[];
  /** The chosen exits in position order, and the chosen point (thresholds, shares, expected cost). */
  chosen: ExitCandidate[];
  point: ParetoPoint;
  /** The trunk alone: validation accuracy and batch-1 ms (every stage and the final head). */
  trunk: { accuracy: number; ms: number };
  /** How many exit sets were compared. */
  setsCompared: number;
  headSeconds: number;
  featureSeconds: number;
}

function accuracyOf(probs: Float32Array, classes: number, labels: Uint8Array): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (argmaxRow(probs, i * classes, classes) === labels[i]) right++;
  return right / labels.length;
}

/** Per position, the candidates not beaten on both validation accuracy and head cost by another head there. */
function undominated(list: ExitCandidate[]): ExitCandidate[] {
  return list.filter(
    (c) =>
      !list.some(
        (d) =>
          d !== c &&
          d.validationAccuracy >= c.validationAccuracy &&
          d.headMs <= c.headMs &&
          (d.validationAccuracy > c.validationAccuracy || d.headMs < c.headMs),
      ),
  );
}

/** Every way to pick at most `max` candidates at distinct increasing positions. */
function* exitSets(byPosition: ExitCandidate[][], max: number, from = 0, prefix: ExitCandidate[] = []): Generator<ExitCandidate[]> {
  if (prefix.length > 0) yield prefix;
  if (prefix.length === max) return;
  for (let i = from; i < byPosition.length; i++) for (const c of byPosition[i]) yield* exitSets(byPosition, max, i + 1, [...prefix, c]);
}

/**
 * Searches where to branch and how deep: trains a head of each kind at every candidate position on cached trunk
 * features (the trunk frozen, run once), measures every stage's and head's batch-1 cost on this machine's engine
 * (onnxruntime when the model has ONNX files), and compares every set of at most `maxExits` exits: for each, the
 * exact Pareto front of thresholds on the validation split, priced by the measured costs, gives the cheapest point
 * within the budget. The cheapest set wins and is written to `out` with its thresholds.
 *
 * Costs add up pieces timed one engine call each, so a set's predicted cost is an estimate; `branchy calibrate`
 * on the written network measures the real one.
 *
 * @throws BranchyArgumentError `EXITS_BAD_POSITION`, `HEAD_BAD_SPEC` (no head fits a position), and the errors of
 *   training, profiling and the Pareto search.
 */
export async function searchExits(run: SearchExitsRun): Promise<SearchOutcome> {
  await useBackend(run.backend);
  const source = loadModelDir(run.from);
  checkSplitsMatchModel(source.spec, run.splits, { allowClassMismatch: run.allowClassMismatch });
  const cut = await trunkCut(source, run.ort);
  const positions = checkPositions(cut, run.positions ?? Array.from({ length: cut.pieces - 1 }, (_, i) => i + 1), 'position');
  if (!Number.isInteger(run.maxExits) || run.maxExits < 1)
    throw new BranchyArgumentError('EXITS_NO_POSITIONS', `'maxExits' is ${run.maxExits}; expected at least 1.`);
  const { classes } = source.spec;
  const { validation } = run.splits;
  const train = firstSamples(run.splits.train, run.trainSamples);
  run.log(`trunk features of ${source.spec.name} at ${positions.length} positions over ${train.count} train and ${validation.count} validation samples`);
  const features = await cachedSplits(source, cut, positions, { train, validation }, run.ort);

  // Every head kind at every position where it fits.
  const trainedAt = new Map<string, { weights: Record<string, Float32Array>; probs: Float32Array; accuracy: number; layers: ReturnType<typeof headLayers> }>();
  let headSeconds = 0;
  for (const p of positions)
    for (const head of run.heads) {
      let layers;
      try {
        layers = headLayers(head, cut.boundaryShape(p), classes.length, cut.describe(p));
      } catch {
        continue;
      }
      const t = await trainHead({
        boundary: cut.boundaryShape(p),
        layers,
        classes,
        train: { x: features.train.byPosition.get(p)!, y: train.y },
        validation: { x: features.validation.byPosition.get(p)!, y: validation.y },
        options: run.options,
      });
      headSeconds += t.seconds;
      trainedAt.set(`${p}|${head}`, { weights: t.weights, probs: t.validationProbs, accuracy: t.validationAccuracy, layers });
      run.log(`  ${head} ${cut.describe(p)}: validation accuracy ${(100 * t.validationAccuracy).toFixed(2)}%`);
    }
  const usable = positions.filter((p) => run.heads.some((h) => trainedAt.has(`${p}|${h}`)));
  if (usable.length === 0) throw new BranchyArgumentError('HEAD_BAD_SPEC', `none of the heads ${run.heads.join(', ')} fits any candidate position.`);

  // Costs: one network per head kind with that head (or, where it does not fit, another) at every usable position.
  const scratch = mkdtempSync(join(tmpdir(), 'branchy-search-'));
  const headMs = new Map<string, number>();
  let stageMs: number[] = [];
  let finalHeadMs = 0;
  let runtime = '';
  try {
    for (const head of run.heads) {
      const placed: PlacedHead[] = usable.map((p) => {
        const kind = trainedAt.has(`${p}|${head}`) ? head : run.heads.find((h) => trainedAt.has(`${p}|${h}`))!;
        const t = trainedAt.get(`${p}|${kind}`)!;
        return { position: p, layers: t.layers, weights: t.weights };
      });
      const dir = join(scratch, head);
      writeWithHeads(source, cut, placed, dir, {});
      const { net } = await openModel(dir);
      const profile = await profileCosts(net, validation, { batch1Samples: run.profileSamples, batchSize: 64 });
      net.dispose();
      runtime = profile.runtime;
      const cost = (kind: 'stage' | 'exit', n: number) => profile.pieces.find((c) => c.kind === kind && c.index === n)!.batch1.typicalMs;
      if (stageMs.length === 0) {
        stageMs = Array.from({ length: usable.length + 1 }, (_, i) => cost('stage', i + 1));
        finalHeadMs = cost('exit', usable.length + 1);
      }
      usable.forEach((p, i) => {
        if (trainedAt.has(`${p}|${head}`)) headMs.set(`${p}|${head}`, cost('exit', i + 1));
      });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const trunkMsAt = (p: number) => stageMs.slice(0, usable.indexOf(p) + 1).reduce((a, b) => a + b, 0);
  const trunkOnlyMs = stageMs.reduce((a, b) => a + b, 0) + finalHeadMs;

  // The trunk's own final exit on the validation split.
  const { net } = await openModel(run.from);
  const finalProbs = (await allExitsOver(net, validation)).probs.at(-1)!;
  net.dispose();
  const criterion = getCriterion(source.spec.policy.criterion);
  const evaluate = (set: ExitCandidate[]) => {
    const table: AllExitsResult = { count: validation.count, classes: classes.length, probs: [...set.map((c) => c.probs), finalProbs] };
    const costToExit: number[] = [];
    let heads = 0;
    for (const c of set) {
      heads += c.headMs;
      costToExit.push(c.trunkMs + heads);
    }
    costToExit.push(stageMs.reduce((a, b) => a + b, 0) + heads + finalHeadMs);
    const front = paretoFront(table, validation.y, criterion, costToExit, { baselineCost: trunkOnlyMs });
    return isGuarded(run.constraint)
      ? chooseGuardedPoint(front, table, validation.y, criterion, run.constraint).point
      : chooseOperatingPoint(front, run.constraint);
  };

  const candidates: ExitCandidate[] = [];
  for (const p of usable)
    for (const head of run.heads) {
      const t = trainedAt.get(`${p}|${head}`);
      if (!t) continue;
      candidates.push({
        position: p,
        where: cut.describe(p),
        head,
        validationAccuracy: t.accuracy,
        headMs: headMs.get(`${p}|${head}`)!,
        trunkMs: trunkMsAt(p),
        alone: { share: 0, expectedMs: 0 },
        chosen: false,
        weights: t.weights,
        probs: t.probs,
      });
    }
  for (const c of candidates) {
    const point = evaluate([c]);
    c.alone = { share: point.exitShare[0], expectedMs: point.expectedCost };
  }
  const byPosition = usable.map((p) => undominated(candidates.filter((c) => c.position === p)));
  let best: { set: ExitCandidate[]; point: ParetoPoint } | undefined;
  let setsCompared = 0;
  for (const set of exitSets(byPosition, run.maxExits)) {
    setsCompared++;
    const point = evaluate(set);
    if (!best || point.expectedCost < best.point.expectedCost) best = { set, point };
  }
  const chosen = best!.set;
  chosen.forEach((c) => (c.chosen = true));
  writeWithHeads(
    source,
    cut,
    chosen.map((c) => ({ position: c.position, layers: trainedAt.get(`${c.position}|${c.head}`)!.layers, weights: c.weights })),
    run.out,
    {
      training: {
        searchExits: {
          from: run.from,
          data: run.splits.source,
          trainSamples: train.count,
          heads: run.heads,
          constraint: run.constraint,
          runtime,
          chosen: chosen.map((c) => ({ position: c.position, where: c.where, head: c.head })),
          predictedCostMs: best!.point.expectedCost,
          trunkOnlyMs,
          setsCompared,
          headSeconds,
          featureSeconds: features.seconds,
          options: { ...run.options, mode: 'frozen' },
        },
        ...(source.manifest.training ? { trunkTraining: source.manifest.training } : {}),
      },
    },
  );
  updateManifest(run.out, (m) => ({ ...m, spec: { ...m.spec, policy: { ...m.spec.policy, thresholds: best!.point.thresholds } } }));
  return {
    runtime,
    candidates,
    chosen,
    point: best!.point,
    trunk: { accuracy: accuracyOf(finalProbs, classes.length, validation.y), ms: trunkOnlyMs },
    setsCompared,
    headSeconds,
    featureSeconds: features.seconds,
  };
}
