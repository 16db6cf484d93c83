import { BranchyArgumentError } from '../common/errors.ts';
import { inspectOnnxNetwork, nchwToNhwc, OrtNetwork, type OrtModule } from '../engine/ort/index.ts';
import { TfjsNetwork } from '../engine/tfjs/network.ts';
import type { Batch, ModelSource, OnnxSource } from '../engine/types.ts';
import { layerFacts, type FeatureShape } from '../spec/shapes.ts';
import type { ExitSpec, NetworkSpec, StageSpec } from '../spec/types.ts';

/**
 * A trained trunk seen as a sequence of pieces it can be cut between: its layers (a network with layer lists) or
 * its ONNX segment files (an imported one). Position p is the boundary after piece p (1 … pieces-1); stage
 * boundary n is the position after the last piece of stage n. Cutting never changes a weight: layers move between
 * stages under new names, ONNX files are kept byte for byte.
 */
export interface TrunkCut {
  readonly kind: 'layers' | 'onnx';
  /** Layers or ONNX segments of the trunk. */
  readonly pieces: number;
  /** Position of each stage boundary n (index n-1), the last one being the trunk's end. */
  readonly stageEnds: readonly number[];
  /**
   * What `add-exits --at n` names (index n-1): the stage boundaries before the trunk's end and the spec's branch
   * points, in trunk order (a network with layer lists); every segment boundary (an imported one).
   */
  readonly boundaries: readonly number[];
  /** What a native exit head reads at position p: [h, w, c] or [n]. */
  boundaryShape(p: number): FeatureShape;
  /** A short description of the pieces before position p, for tables (`conv2d 5x5 (layer 1)`, `segment 1`). */
  describe(p: number): string;
}

/** Cuts of a network with layer lists. */
function layerCut(spec: NetworkSpec): TrunkCut & { layerAt: (p: number) => { stage: number; layer: number } } {
  const at: { stage: number; layer: number }[] = [];
  const shapes: FeatureShape[] = [];
  const stageEnds: number[] = [];
  let shape: FeatureShape = spec.input.shape;
  spec.stages.forEach((s, i) => {
    s.layers.forEach((layer, li) => {
      shape = layerFacts(layer, shape, `stages[${i}].layers[${li}]`).output;
      at.push({ stage: i, layer: li });
      shapes.push(shape);
    });
    stageEnds.push(at.length);
  });
  return {
    kind: 'layers',
    pieces: at.length,
    stageEnds,
    boundaries: [...stageEnds.slice(0, -1), ...(spec.branchPoints ?? [])].sort((a, b) => a - b),
    boundaryShape: (p) => shapes[p - 1],
    layerAt: (p) => at[p - 1],
    describe: (p) => {
      const { stage, layer } = at[p - 1];
      return `after layer ${p} (${spec.stages[stage].layers[layer].type})`;
    },
  };
}

/** What reading an imported trunk needs: onnxruntime and the segment shapes it reports. */
async function onnxCut(ort: OrtModule, spec: NetworkSpec, onnx: OnnxSource): Promise<TrunkCut> {
  const { segmentOutputs } = await inspectOnnxNetwork(ort, onnx, { inputShape: spec.input.shape, classes: spec.classes.length });
  const segments = onnx.stageSegments ?? spec.stages.map(() => 1);
  const stageEnds = segments.map((_, n) => segments.slice(0, n + 1).reduce((a, b) => a + b, 0));
  const nchw = onnx.inputLayout === 'nchw';
  return {
    kind: 'onnx',
    pieces: segmentOutputs.length,
    stageEnds,
    boundaries: Array.from({ length: segmentOutputs.length - 1 }, (_, i) => i + 1),
    boundaryShape: (p) => {
      const s = segmentOutputs[p - 1];
      return nchw && s.length === 3 ? [s[1], s[2], s[0]] : s;
    },
    describe: (p) => `after segment ${p} (stage_${p}.onnx)`,
  };
}

/**
 * The cut positions of a model: its layers, or, for a network imported from ONNX, its segments (read with
 * onnxruntime, which `ort` provides).
 */
export async function trunkCut(model: ModelSource, ort?: () => Promise<OrtModule>): Promise<TrunkCut> {
  if (model.spec.imported === undefined) return layerCut(model.spec);
  if (!model.onnx || !ort)
    throw new BranchyArgumentError('EXITS_BAD_POSITION', `'${model.spec.name}' is imported from ONNX but its ONNX files are not loaded.`);
  return onnxCut(await ort(), model.spec, model.onnx);
}

/** Checks positions against a trunk and returns them sorted, without repeats. */
export function checkPositions(cut: TrunkCut, positions: readonly number[], what: string): number[] {
  const sorted = [...new Set(positions)].sort((a, b) => a - b);
  for (const p of sorted) {
    if (!Number.isInteger(p) || p < 1 || p >= cut.pieces)
      throw new BranchyArgumentError(
        'EXITS_BAD_POSITION',
        `${what} ${p} does not exist: the trunk has ${cut.pieces} ${cut.kind === 'layers' ? 'layers' : 'ONNX segments'}, so exits can go after ${cut.kind === 'layers' ? 'layer' : 'segment'} 1 … ${cut.pieces - 1}.`,
      );
  }
  return sorted;
}

/** A network re-staged at a set of positions, with where each new exit comes from. */
export interface Restaged {
  spec: NetworkSpec;
  /** The old weights under their new names (the trunk's and the kept exits'). */
  weights: Record<string, Float32Array>;
  /** Per new stage n (index n-1): the old exit kept there (1-based), or null where a new head goes. */
  keptExit: (number | null)[];
  /** Per new stage, its position (the cut after it); the last is the trunk's end. */
  ends: number[];
  /** For an imported trunk: ONNX segment files per new stage. */
  stageSegments?: number[];
}

/**
 * Re-stages a trunk so that a stage ends at every position given, as well as at every old stage boundary (whose
 * exit is kept). New stages get empty exit heads (`layers: []`) for the caller to fill; old exits keep their heads
 * and weights. No weight changes value.
 */
export function restage(model: ModelSource, cut: TrunkCut, positions: readonly number[]): Restaged {
  const { spec } = model;
  const ends = [...new Set([...positions, ...cut.stageEnds])].sort((a, b) => a - b);
  const oldStageOf = (end: number) => cut.stageEnds.indexOf(end);
  const keptExit = ends.map((end) => (oldStageOf(end) >= 0 && !positions.includes(end) ? oldStageOf(end) + 1 : null));
  const weights: Record<string, Float32Array> = {};
  const exits: ExitSpec[] = ends.map((_, i) => {
    const old = keptExit[i];
    if (old === null) return { name: `exit ${i + 1}`, layers: [] };
    for (const [name, w] of Object.entries(model.weights)) if (name.startsWith(`exit${old}.`)) weights[`exit${i + 1}.${name.slice(`exit${old}.`.length)}`] = w;
    return { ...spec.exits[old - 1] };
  });
  let stages: StageSpec[];
  let stageSegments: number[] | undefined;
  if (cut.kind === 'layers') {
    const at = (cut as ReturnType<typeof layerCut>).layerAt;
    stages = ends.map((end, i) => {
      const from = i === 0 ? 1 : ends[i - 1] + 1;
      const layers = [];
      for (let p = from; p <= end; p++) {
        const { stage, layer } = at(p);
        layers.push(spec.stages[stage].layers[layer]);
        const prefix = `stage${stage + 1}.${layer}.`;
        for (const [name, w] of Object.entries(model.weights))
          if (name.startsWith(prefix)) weights[`stage${i + 1}.${layers.length - 1}.${name.slice(prefix.length)}`] = w;
      }
      const whole = oldStageOf(end) >= 0 && (oldStageOf(end) === 0 ? 0 : cut.stageEnds[oldStageOf(end) - 1]) === from - 1;
      return { name: whole ? spec.stages[oldStageOf(end)].name : `layers ${from}-${end}`, layers };
    });
  } else {
    stageSegments = ends.map((end, i) => end - (i === 0 ? 0 : ends[i - 1]));
    stages = ends.map((end, i) => ({
      name: stageSegments![i] === 1 ? `segment ${end}` : `segments ${end - stageSegments![i] + 1}-${end}`,
      layers: [],
      output: [...cut.boundaryShape(end)],
    }));
    if (ends[ends.length - 1] === cut.pieces)
      stages[stages.length - 1].output = spec.stages[spec.stages.length - 1].output ?? [...cut.boundaryShape(cut.pieces)];
  }
  const { branchPoints, ...rest } = spec;
  // A branch point where a stage now ends is a stage boundary; the others stay branch points.
  const stillBranchPoints = branchPoints?.filter((p) => !ends.includes(p)) ?? [];
  const next: NetworkSpec = {
    ...rest,
    stages,
    exits,
    policy: { criterion: spec.policy.criterion, thresholds: new Array<number>(ends.length - 1).fill(0) },
    ...(stillBranchPoints.length > 0 ? { branchPoints: stillBranchPoints } : {}),
  };
  return { spec: next, weights, keptExit, ends, ...(stageSegments ? { stageSegments } : {}) };
}

/** Features at a set of positions, for every sample of a batch source, in head layout (NHWC or flat). */
export interface CachedFeatures {
  /** Per position: features [count, ...boundaryShape]. */
  byPosition: Map<number, Float32Array>;
  count: number;
}

/**
 * Runs the frozen trunk once over `x` (NHWC samples, `count` of them) and keeps its features at each position: on
 * tfjs for a network with layer lists, on onnxruntime for an imported one. The trunk runs up to the last position
 * only.
 */
export async function trunkFeatures(
  model: ModelSource,
  cut: TrunkCut,
  positions: readonly number[],
  x: Batch,
  ort?: () => Promise<OrtModule>,
  batchSize = 500,
): Promise<CachedFeatures> {
  const count = x.shape[0];
  const sorted = [...positions].sort((a, b) => a - b);
  const sizes = sorted.map((p) => cut.boundaryShape(p).reduce((a, b) => a * b, 1));
  const out = sorted.map((_, i) => new Float32Array(count * sizes[i]));
  const per = x.data.length / count;
  let runPiece: (k: number, f: Batch) => Promise<Batch>;
  let dispose: () => void;
  let toHead = (f: Batch) => f;
  if (cut.kind === 'layers') {
    // One stage per piece up to the last position: each piece's output is there to be kept.
    const each = restage(
      model,
      cut,
      Array.from({ length: sorted[sorted.length - 1] }, (_, i) => i + 1),
    );
    const net = new TfjsNetwork(each.spec, each.weights);
    runPiece = (k, f) => net.stage(k, f);
    dispose = () => net.dispose();
  } else {
    const net = await OrtNetwork.create(await ort!(), model.spec, model.onnx!);
    runPiece = (k, f) => net.segment(k, f);
    dispose = () => net.dispose();
    // Heads read NHWC; a PyTorch chain's maps are NCHW between its segments.
    if (model.onnx!.inputLayout === 'nchw') toHead = nchwToNhwc;
  }
  try {
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      let f: Batch = { data: x.data.subarray(start * per, (start + n) * per), shape: [n, ...x.shape.slice(1)] };
      for (let k = 1, i = 0; k <= sorted[sorted.length - 1]; k++) {
        f = await runPiece(k, f);
        if (k === sorted[i]) {
          out[i].set(toHead(f).data, start * sizes[i]);
          i++;
        }
      }
    }
  } finally {
    dispose();
  }
  return { byPosition: new Map(sorted.map((p, i) => [p, out[i]])), count };
}
