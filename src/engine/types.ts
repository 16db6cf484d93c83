import type { NetworkSpec } from '../spec/types.ts';

/** A batch of samples or features: row-major, batch first. */
export interface Batch {
  data: Float32Array;
  /** [batch, ...per-sample shape]. */
  shape: number[];
}

/** A network's description and its weights, named `stage<n>.<layer>.<param>` / `exit<n>.<layer>.<param>`. */
export interface ModelSource {
  spec: NetworkSpec;
  weights: Record<string, Float32Array>;
}

/**
 * Runs the pieces of one network. Each engine (tfjs, onnxruntime) implements it; the early-exit runner,
 * calibration, serving and the cascade are written against this and nothing below it.
 */
export interface Engine {
  readonly name: EngineName;
  load(model: ModelSource): Promise<LoadedNetwork>;
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
  /** Frees the engine's memory for this network. */
  dispose(): void;
}
