import type { NetworkSpec } from '../spec/types.ts';

/** A batch of samples or features: row-major, batch first. */
export interface Batch {
  data: Float32Array;
  /** [batch, ...per-sample shape]. */
  shape: number[];
}

/**
 * A network's description and its weights, named `stage<n>.<layer>.<param>` / `exit<n>.<layer>.<param>`, and
 * its ONNX files when it has them. A network imported from ONNX has no layer lists and no weights.
 */
export interface ModelSource {
  spec: NetworkSpec;
  weights: Record<string, Float32Array>;
  onnx?: OnnxSource;
}

/** One ONNX model per stage (or per segment of a stage) and per exit head, in order, and how their boundaries are laid out. */
export interface OnnxSource {
  /** One model per stage, or, with `stageSegments`, one per segment of the trunk, in order. */
  stages: Uint8Array[];
  exits: Uint8Array[];
  /**
   * How stage 1 takes its input: `'nhwc'` (branchy's own exports; the default) or `'nchw'` (PyTorch's), in which
   * case the engine transposes the NHWC input batch first.
   */
  inputLayout?: 'nhwc' | 'nchw';
  /**
   * What the imported exit heads return: `'probs'` (the default) or `'logits'`, to which the engine applies a
   * softmax. A native head (one with layers in the spec) is branchy's own export and returns probabilities; when
   * `inputLayout` is `'nchw'`, the trunk's feature maps are NCHW too, and the engine transposes them for it.
   */
  exitOutput?: 'probs' | 'logits';
  /**
   * How many consecutive models of `stages` make up each stage (default one each): an imported trunk cut into N
   * segments with exits after only some of them runs each stage as its chain of segments.
   */
  stageSegments?: number[];
}

/**
 * Runs the pieces of one network. Each engine (tfjs, onnxruntime) implements it; the early-exit runner,
 * calibration, serving and the cascade are written against this and nothing below it.
 */
export interface Engine {
  readonly name: EngineName;
  load(model: ModelSource): Promise<LoadedNetwork>;
}

/** What one fused stage-and-exit call (`LoadedNetwork.stageAndExit`) returns. */
export interface StageAndExit {
  /** Exit n's class probabilities [batch, classes]. */
  probs: Batch;
  /**
   * Stage n's features for the given rows of the call's batch, in that order: stage n+1's input for the samples
   * that go on. Not for the last stage. The engine either copied every sample's features out of the call or
   * runs stage n again on these rows, whichever it judged cheaper; the values are the same.
   */
  features(rows: readonly number[]): Promise<Batch>;
}

/** Engines known to branchy. */
export type EngineName = 'tfjs' | 'ort';

/** One network ready to run. Stages and exits are numbered from 1, as in the paper. */
export interface LoadedNetwork {
  readonly spec: NetworkSpec;
  /** The engine and its backend, for reports (e.g. `tfjs-wasm`). */
  readonly runtime: string;
  /** Stage n on a batch: the raw input (n = 1) or stage n-1's features → stage n's features. */
  stage(n: number, x: Batch): Promise<Batch>;
  /** Exit head n on stage n's features → class probabilities [batch, classes] (softmax applied). */
  exit(n: number, features: Batch): Promise<Batch>;
  /**
   * Stage n and exit head n in one engine call, when the engine offers it (onnxruntime, whose per-call overhead
   * dominates small pieces): exit n's probabilities, and stage n's features for the samples that go on, which the
   * engine may have fetched with the probabilities or may compute again (see `StageAndExit`). Probabilities and
   * features equal those of `stage(n, x)` then `exit(n, features)`. The runner, the all-exits pass and the cost
   * profile use it when present, so what is timed is what runs.
   */
  stageAndExit?(n: number, x: Batch): Promise<StageAndExit>;
  /**
   * How `stage` returns feature maps: `'nhwc'` (branchy's own networks; the default when absent) or `'nchw'` (an
   * imported PyTorch chain, whose features stay NCHW between its stages). What leaves the network (a cascade
   * unit's features frame) is always NHWC; see `nhwcFeatures`.
   */
  readonly featureLayout?: 'nhwc' | 'nchw';
  /** Frees the engine's memory for this network. */
  dispose(): void;
}
