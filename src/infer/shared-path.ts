/**
 * One front-end's path through a shared successor, in one process: the front's stages and exits up to its cut,
 * its adapter (stage 1 of an ordinary one-stage network, mapping the front's features to the successor's common
 * feature shape), then the successor's stages and exits, whose answers over the union of classes are read in the
 * front's own class space, or, when the path answers in the union, the front's exits' answers are mapped into the
 * union. Calibration chooses each front's thresholds on this, and the cascade's answers equal it.
 *
 * @module
 */
import type { Batch, LoadedNetwork } from '../engine/types.ts';
import type { NetworkSpec } from '../spec/types.ts';
import type { AllExitsResult } from './all-exits.ts';
import { allExitsInBatches, type LabelledSamples } from './evaluate.ts';

/** The networks of one front's path. */
export interface SharedPath {
  /** The front-end network; only stages and exits 1..`cut` run. */
  front: LoadedNetwork;
  /** The last front stage whose features the adapter takes (the front's exits 1..cut answer before it). */
  cut: number;
  /** A one-stage network: its stage 1 maps stage `cut`'s features to the common feature shape. */
  adapter: LoadedNetwork;
  /** The shared successor: common features → probabilities over the union of classes, at each of its exits. */
  successor: LoadedNetwork;
  /** For each of the front's classes, its index among the successor's classes. */
  classMap: readonly number[];
  /**
   * The class space of every answer on the path: `front` (the default), the front's classes; `union`, the
   * successor's, whose argmax may be a class of another front.
   */
  answers?: 'front' | 'union';
}

/**
 * Probabilities over the successor's classes read in a front's class space: each row keeps the front's classes
 * (`classMap`) and is renormalised to sum to 1. A row with no mass on them (every probability underflowed) becomes
 * uniform.
 */
export function toFrontClasses(probs: Float32Array, count: number, unionClasses: number, classMap: readonly number[]): Float32Array {
  const k = classMap.length;
  const out = new Float32Array(count * k);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += probs[i * unionClasses + classMap[j]];
    for (let j = 0; j < k; j++) out[i * k + j] = sum > 0 ? probs[i * unionClasses + classMap[j]] / sum : 1 / k;
  }
  return out;
}

/**
 * A front's probabilities placed in the successor's class space: each of the front's classes at its index there
 * (`classMap`), every other class 0. Entropy, max-prob and margin keep their values.
 */
export function toUnionClasses(probs: Float32Array, count: number, unionClasses: number, classMap: readonly number[]): Float32Array {
  const k = classMap.length;
  const out = new Float32Array(count * unionClasses);
  for (let i = 0; i < count; i++) for (let j = 0; j < k; j++) out[i * unionClasses + classMap[j]] = probs[i * k + j];
  return out;
}

/**
 * A front network whose exits answer in the successor's classes (`classes`, the union): the same stages, each
 * exit's probabilities mapped by {@link toUnionClasses}. A front unit of a plan that answers in the union runs this.
 */
export function inUnionClasses(front: LoadedNetwork, classes: readonly string[], classMap: readonly number[]): LoadedNetwork {
  const union = (b: Batch): Batch => ({ data: toUnionClasses(b.data, b.shape[0], classes.length, classMap), shape: [b.shape[0], classes.length] });
  const fused = front.stageAndExit?.bind(front);
  return {
    spec: { ...front.spec, classes: [...classes] },
    runtime: front.runtime,
    stage: (n, x) => front.stage(n, x),
    exit: async (n, features) => union(await front.exit(n, features)),
    ...(fused && {
      stageAndExit: async (n: number, x: Batch) => {
        const out = await fused(n, x);
        return { probs: union(out.probs), features: (rows: readonly number[]) => out.features(rows) };
      },
    }),
    dispose: () => front.dispose(),
  };
}

/** The front's features at its cut, for a batch of its raw input (its exits are not run). */
export async function frontFeatures(front: LoadedNetwork, cut: number, x: Batch): Promise<Batch> {
  let features = x;
  for (let n = 1; n <= cut; n++) features = await front.stage(n, features);
  return features;
}

/**
 * The successor's answers for a front's features at its cut: the adapter, then every successor exit, each read in
 * the front's class space (or as they are, over the union, when the path answers in the union).
 */
export async function successorAnswers(path: Omit<SharedPath, 'front' | 'cut'>, features: Batch): Promise<Float32Array[]> {
  const count = features.shape[0];
  const unionClasses = path.successor.spec.classes.length;
  const probs: Float32Array[] = [];
  let x = await path.adapter.stage(1, features);
  for (let n = 1; n <= path.successor.spec.stages.length; n++) {
    x = await path.successor.stage(n, x);
    const p = (await path.successor.exit(n, x)).data;
    probs.push(path.answers === 'union' ? p : toFrontClasses(p, count, unionClasses, path.classMap));
  }
  return probs;
}

/**
 * Every exit of a front's path on every sample: the front's exits 1..cut, then the successor's exits, all in the
 * path's class space (`answers`). Exit n of the table is exit n of the path (cut + the successor's depth exits).
 */
export async function runSharedPathAllExits(path: SharedPath, x: Batch): Promise<AllExitsResult> {
  const union = path.answers === 'union';
  const front = union ? inUnionClasses(path.front, path.successor.spec.classes, path.classMap) : path.front;
  const probs: Float32Array[] = [];
  let features = x;
  for (let n = 1; n <= path.cut; n++) {
    features = await front.stage(n, features);
    probs.push((await front.exit(n, features)).data);
  }
  probs.push(...(await successorAnswers(path, features)));
  return { count: x.shape[0], classes: front.spec.classes.length, probs };
}

/**
 * A front's path as one network: stages 1..cut of the front with their exits, then one stage of the adapter and the
 * successor's first stage, then the successor's other stages, its exits answering in the path's class space. What
 * the runner, the all-exits pass and the cost profile see of a shared path, e.g. to time it (`profileCosts`).
 * Disposing it disposes none of the path's networks.
 */
export function sharedPathNetwork(path: SharedPath): LoadedNetwork {
  const union = path.answers === 'union';
  const front = union ? inUnionClasses(path.front, path.successor.spec.classes, path.classMap) : path.front;
  const { cut, adapter, successor } = path;
  const unionClasses = successor.spec.classes.length;
  return {
    spec: sharedPathSpec(path),
    runtime: front.runtime,
    stage: async (n, x) => (n <= cut ? front.stage(n, x) : successor.stage(n - cut, n === cut + 1 ? await adapter.stage(1, x) : x)),
    exit: async (n, features) => {
      if (n <= cut) return front.exit(n, features);
      const p = await successor.exit(n - cut, features);
      return union ? p : { data: toFrontClasses(p.data, p.shape[0], unionClasses, path.classMap), shape: [p.shape[0], path.classMap.length] };
    },
    dispose: () => {},
  };
}

/** The spec of {@link sharedPathNetwork}: the path's stages and exits as layer lists, in the path's class space. */
function sharedPathSpec(path: SharedPath): NetworkSpec {
  const [f, a, s] = [path.front.spec, path.adapter.spec, path.successor.spec];
  const stages = [...f.stages.slice(0, path.cut), { name: `${a.stages[0].name}+${s.stages[0].name}`, layers: [...a.stages[0].layers, ...s.stages[0].layers] }];
  return {
    format: 'branchy/1',
    name: `${f.name}+${s.name}`,
    description: `${f.name} up to stage ${path.cut}, then ${a.name} and ${s.name}.`,
    input: f.input,
    classes: path.answers === 'union' ? [...s.classes] : [...f.classes],
    stages: [...stages, ...s.stages.slice(1)],
    exits: [...f.exits.slice(0, path.cut), ...s.exits],
    policy: { criterion: f.policy.criterion, thresholds: new Array<number>(path.cut + s.stages.length - 1).fill(0) },
  };
}

/** {@link runSharedPathAllExits} over a whole sample set, in batches. */
export function sharedPathAllExitsOver(path: SharedPath, samples: Pick<LabelledSamples, 'x' | 'count' | 'shape'>, batchSize = 256): Promise<AllExitsResult> {
  return allExitsInBatches((x) => runSharedPathAllExits(path, x), samples, batchSize);
}
