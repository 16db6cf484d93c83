import * as tf from '@tensorflow/tfjs-core';
import { assert } from '../../common/assert.ts';
import { BranchyArgumentError, BranchyIoError } from '../../common/errors.ts';
import { Rng } from '../../common/rng.ts';
import { hasLayers, type FeatureShape } from '../../spec/shapes.ts';
import type { LayerSpec, NetworkSpec } from '../../spec/types.ts';
import type { Batch, LoadedNetwork, ModelSource } from '../types.ts';
import { currentBackend } from './backend.ts';
import { applyLayer, layerOutputShape, layerParams, type LayerContext } from './layers.ts';

let networkCount = 0;

/** Where a weight belongs: a stage of the trunk or an exit head. */
export type PieceKind = 'stage' | 'exit';

interface Piece {
  kind: PieceKind;
  /** 1-based. */
  index: number;
  layers: LayerSpec[];
  /** Per-sample input shape. */
  input: FeatureShape;
}

/** Options for `forward`. */
export interface ForwardOptions {
  /** Batch statistics for batch norm and active dropout, in the pieces that train. */
  training: boolean;
  /** With `training`: the trunk still runs in inference mode (frozen training: only exit heads learn). */
  frozenTrunk?: boolean;
}

/**
 * A network built from a spec as tfjs variables. It is the tfjs engine's `LoadedNetwork` for inference, and it
 * exposes the whole graph (`forward`) for training.
 */
export class TfjsNetwork implements LoadedNetwork {
  readonly spec: NetworkSpec;
  readonly runtime: string;
  private readonly pieces: { stage: Piece[]; exit: Piece[] };
  private readonly variables = new Map<string, tf.Variable>();
  private readonly trainable = new Set<string>();
  private readonly normalization?: { mean: tf.Tensor1D; invStd: tf.Tensor1D };
  private seedCounter = 0;
  /** tfjs variable names are global to the process; this prefix keeps networks loaded side by side apart. */
  private readonly scope = `branchy${++networkCount}/`;

  /**
   * Builds the network's variables: from `weights` where given (every weight must then be present), else freshly
   * initialised from `seed`.
   */
  constructor(spec: NetworkSpec, weights?: Record<string, Float32Array>, seed = 1) {
    if (!hasLayers(spec))
      throw new BranchyArgumentError(
        'ENGINE_NEEDS_LAYERS',
        `'${spec.name}' was imported from ONNX and has no layer lists; the tfjs engine (and training) needs them; run it on the ort engine.`,
      );
    this.spec = spec;
    this.runtime = `tfjs-${currentBackend()}`;
    const stage: Piece[] = [];
    const exit: Piece[] = [];
    let shape: FeatureShape = spec.input.shape;
    spec.stages.forEach((s, i) => {
      stage.push({ kind: 'stage', index: i + 1, layers: s.layers, input: shape });
      shape = s.layers.reduce<FeatureShape>((sh, layer) => layerOutputShape(layer, sh), shape);
      exit.push({ kind: 'exit', index: i + 1, layers: spec.exits[i].layers, input: shape });
    });
    this.pieces = { stage, exit };
    const rng = new Rng(seed);
    for (const piece of [...stage, ...exit]) {
      let sh = piece.input;
      piece.layers.forEach((layer, li) => {
        for (const p of layerParams(layer, sh)) {
          const name = `${piece.kind}${piece.index}.${li}.${p.name}`;
          const size = p.shape.reduce((a, b) => a * b, 1);
          let value: Float32Array;
          if (weights) {
            const w = weights[name];
            if (!w) throw new BranchyIoError('MODEL_MISSING_WEIGHT', `weight '${name}' (shape [${p.shape.join(', ')}]) is missing from the model's weights.`);
            if (w.length !== size)
              throw new BranchyIoError('MODEL_WEIGHT_SHAPE', `weight '${name}' has ${w.length} values; the spec needs [${p.shape.join(', ')}] = ${size}.`);
            value = w;
          } else value = p.init(rng);
          // The variable holds its own reference to the initial value's data, so the initial tensor can go.
          const initial = tf.tensor(value, p.shape);
          this.variables.set(name, tf.variable(initial, p.trainable, this.scope + name));
          initial.dispose();
          if (p.trainable) this.trainable.add(name);
        }
        sh = layerOutputShape(layer, sh);
      });
    }
    const norm = spec.input.normalization;
    if (norm) this.normalization = { mean: tf.tensor1d(norm.mean), invStd: tf.tensor1d(norm.std.map((s) => 1 / s)) };
  }

  /** Builds a network from a spec and named weights. */
  static fromSource(source: ModelSource): TfjsNetwork {
    return new TfjsNetwork(source.spec, source.weights);
  }

  /** Number of stages (= number of exits). */
  get depth(): number {
    return this.pieces.stage.length;
  }

  /** Per-sample input shape of stage n / exit n. */
  inputShape(kind: PieceKind, n: number): FeatureShape {
    return this.piece(kind, n).input;
  }

  /** All weights as named Float32Arrays (a copy), e.g. to save them. */
  weights(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of this.variables) out[name] = v.dataSync() as Float32Array;
    return out;
  }

  /** Overwrites weights by name; names not in `weights` keep their values. Unknown names are refused. */
  setWeights(weights: Record<string, Float32Array>): void {
    for (const [name, value] of Object.entries(weights)) {
      const v = this.variables.get(name);
      if (!v) throw new BranchyArgumentError('MODEL_UNKNOWN_WEIGHT', `weight '${name}' does not exist in network '${this.spec.name}'.`);
      if (value.length !== v.size) throw new BranchyIoError('MODEL_WEIGHT_SHAPE', `weight '${name}' has ${value.length} values; expected ${v.size}.`);
      tf.tidy(() => v.assign(tf.tensor(value, v.shape)));
    }
  }

  /** Trainable variables of the whole network or of its exit heads only, in a fixed order. */
  trainableVariables(which: 'all' | 'exitHeads'): tf.Variable[] {
    return [...this.trainable].filter((name) => which === 'all' || name.startsWith('exit')).map((name) => this.variables.get(name)!);
  }

  /** The weight name (`stage1.0.kernel`) of one of this network's variables, without the process-wide scope. */
  weightName(variable: tf.Variable): string {
    assert(variable.name.startsWith(this.scope), () => `variable ${variable.name} is not part of network ${this.scope}`);
    return variable.name.slice(this.scope.length);
  }

  /** Sets the counter that dropout seeds derive from, so a resumed run draws the same masks. */
  setSeedCounter(value: number): void {
    this.seedCounter = value;
  }

  private piece(kind: PieceKind, n: number): Piece {
    const list = this.pieces[kind];
    if (!Number.isInteger(n) || n < 1 || n > list.length) {
      throw new BranchyArgumentError('ENGINE_BAD_INDEX', `${kind} ${n} does not exist; network '${this.spec.name}' has ${list.length} (numbered from 1).`);
    }
    return list[n - 1];
  }

  private context(piece: Piece, layerIndex: number, training: boolean, inputIsConstant: boolean): LayerContext {
    const prefix = `${piece.kind}${piece.index}.${layerIndex}.`;
    return {
      training,
      inputIsConstant: inputIsConstant && layerIndex === 0,
      param: (name) => {
        const v = this.variables.get(prefix + name);
        assert(v, () => `missing variable ${prefix + name}`);
        return v;
      },
      nextSeed: () => 7919 * ++this.seedCounter,
    };
  }

  /**
   * Runs one stage or exit head's layers on a tensor (logits for an exit; no softmax). Call inside `tf.tidy`.
   * `inputIsConstant` says no gradient needs to flow into `x` (so training skips computing one); by default that
   * holds for stage 1, whose input is the data.
   */
  applyPiece(kind: PieceKind, n: number, x: tf.Tensor, training = false, inputIsConstant = kind === 'stage' && n === 1): tf.Tensor {
    const piece = this.piece(kind, n);
    let y = x;
    if (kind === 'stage' && n === 1 && this.normalization) y = tf.mul(tf.sub(y, this.normalization.mean), this.normalization.invStd);
    piece.layers.forEach((layer, i) => {
      y = applyLayer(layer, y, this.context(piece, i, training, inputIsConstant));
    });
    return y;
  }

  /** The whole graph on a batch: every exit's logits, in order. Call inside `tf.tidy` (or a training step). */
  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor2D[] {
    const trunkTraining = options.training && !options.frozenTrunk;
    const logits: tf.Tensor2D[] = [];
    let features = x;
    for (let n = 1; n <= this.depth; n++) {
      features = this.applyPiece('stage', n, features, trunkTraining);
      // In frozen mode no trunk variable is in the optimiser's list, so the tape never backpropagates into it.
      logits.push(this.applyPiece('exit', n, features, options.training, options.frozenTrunk === true) as tf.Tensor2D);
    }
    return logits;
  }

  private run(kind: PieceKind, n: number, x: Batch, softmax: boolean): Batch {
    const piece = this.piece(kind, n);
    const expected = piece.input;
    const per = x.shape.slice(1);
    if (per.length !== expected.length || per.some((d, i) => d !== expected[i])) {
      throw new BranchyArgumentError(
        'ENGINE_BAD_SHAPE',
        `${kind} ${n} of '${this.spec.name}' takes [batch, ${expected.join(', ')}]; got [${x.shape.join(', ')}].`,
      );
    }
    // The result leaves tidy through a closure: tidy walks whatever its callback returns, element by element,
    // looking for tensors, and for a large typed array that walk costs more than the whole stage.
    let result: Batch | undefined;
    tf.tidy(() => {
      const y = this.applyPiece(kind, n, tf.tensor(x.data, x.shape));
      const out = softmax ? tf.softmax(y) : y;
      result = { data: out.dataSync() as Float32Array, shape: out.shape.slice() };
    });
    return result!;
  }

  /** Stage n on a batch. */
  async stage(n: number, x: Batch): Promise<Batch> {
    return this.run('stage', n, x, false);
  }

  /** Exit head n on stage n's features → probabilities. */
  async exit(n: number, features: Batch): Promise<Batch> {
    return this.run('exit', n, features, true);
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
    this.normalization?.mean.dispose();
    this.normalization?.invStd.dispose();
  }
}
