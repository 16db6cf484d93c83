import * as tf from '@tensorflow/tfjs-core';
import { BranchyIoError } from '../common/errors.ts';
import type { TfjsNetwork } from '../engine/tfjs/network.ts';
import { AdamUpdate, type AdamUpdateAttrs } from '../engine/tfjs/kernels/AdamUpdate.ts';
import type { TrainOptions } from './options.ts';

/**
 * The optimiser of a training run, with its state in a form another process can restore. tfjs names optimiser
 * slots after its variables (`<variable>/m`), whose names carry a per-process scope; the state here is keyed by
 * weight name instead (`stage1.0.kernel/m`), plus `iter`.
 */
export interface TrainingOptimizer {
  readonly optimizer: tf.Optimizer;
  /** Sets the step size for the following updates (a schedule calls it once per epoch). */
  setLearningRate(rate: number): void;
  /** The slots by weight name, for a checkpoint. */
  state(): Promise<Record<string, Float32Array>>;
  /** Restores what `state` returned, e.g. in another process. */
  restore(state: Record<string, Float32Array>): Promise<void>;
  dispose(): void;
}

/** Per-variable slots of each optimiser, in the order tfjs keeps them (all of one slot, then the next). */
const SLOTS = { adam: ['m', 'v'], sgd: ['momentum'] } as const;

/** State keys of Adam's accumulated bias corrections β₁^t and β₂^t. */
const ADAM_ACC_BETA1 = 'adam/accBeta1';
const ADAM_ACC_BETA2 = 'adam/accBeta2';

/** What `FusedAdamOptimizer` reaches of tfjs's AdamOptimizer (private there, so typed here). */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

/**
 * tfjs's Adam, with each variable's update done by the fused `AdamUpdate` kernel where the backend has it (wasm):
 * one kernel per variable instead of fourteen elementwise ops. Slots, their names and the step count are tfjs's
 * own, so `getWeights`/`setWeights` and checkpoints are unchanged; elsewhere it is tfjs's Adam.
 */
class FusedAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (tf.getKernel(AdamUpdate, tf.getBackend()) === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const self = this as unknown as AdamInternals;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const attrs: AdamUpdateAttrs = { beta1: this.beta1, beta2: this.beta2, learningRate: this.learningRate, epsilon: this.epsilon };
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        const slot = (suffix: string) => ({ originalName: `${name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) });
        self.accumulatedFirstMoment[i] ??= slot('m');
        self.accumulatedSecondMoment[i] ??= slot('v');
        const gradient = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i]!.variable;
        const v = self.accumulatedSecondMoment[i]!.variable;
        const inputs = { value, m, v, gradient, accBeta1: self.accBeta1, accBeta2: self.accBeta2 };
        const [newValue, newM, newV] = tf.engine().runKernel(AdamUpdate, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(newM);
        v.assign(newV);
        value.assign(newValue);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, this.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/**
 * Adam with the options' β1/β2 (the paper), or SGD with momentum (`v ← μ·v + g; w ← w − lr·v`, as PyTorch's SGD
 * without dampening), over `variables` in that order.
 */
export function createOptimizer(options: TrainOptions, net: TfjsNetwork, variables: tf.Variable[]): TrainingOptimizer {
  const kind = options.optimizer ?? 'adam';
  const optimizer =
    kind === 'sgd'
      ? tf.train.momentum(options.learningRate, options.momentum ?? 0.9)
      : new FusedAdamOptimizer(options.learningRate, options.beta1, options.beta2);
  const slots = SLOTS[kind];
  const byVariable = new Map(variables.map((v) => [v.name, net.weightName(v)]));
  return {
    optimizer,
    setLearningRate(rate) {
      // Adam reads its step size on every update; SGD keeps it as a constant tensor that only this call renews.
      // (`instanceof` cannot tell them apart: tfjs optimisers answer it by duck typing.)
      if (kind === 'sgd') (optimizer as tf.SGDOptimizer).setLearningRate(rate);
      else (optimizer as unknown as { learningRate: number }).learningRate = rate;
    },
    async state() {
      const out: Record<string, Float32Array> = {};
      for (const { name, tensor } of await optimizer.getWeights()) {
        const slot = /^(.*)\/([^/]+)$/.exec(name);
        const key = slot && byVariable.has(slot[1]) ? `${byVariable.get(slot[1])}/${slot[2]}` : name;
        out[key] = Float32Array.from(await tensor.data());
        // The slots are the optimiser's own variables; the step count is a scalar made for this call.
        if (name === 'iter') tensor.dispose();
      }
      if (kind === 'adam') {
        // Adam's bias corrections β^t, as the run multiplied them up step by step: a restore that recomputed them
        // as pow(β, t) (tfjs's setWeights does) would differ in the last bits and a resumed run would drift.
        const self = optimizer as unknown as AdamInternals;
        out[ADAM_ACC_BETA1] = Float32Array.from(await self.accBeta1.data());
        out[ADAM_ACC_BETA2] = Float32Array.from(await self.accBeta2.data());
      }
      return out;
    },
    async restore(state) {
      // tfjs matches slots to variables by position, in the order the variables are passed to minimize.
      const weightNames = variables.map((v) => net.weightName(v));
      const keys = slots.flatMap((slot) => weightNames.map((n) => `${n}/${slot}`));
      const missing = ['iter', ...keys].filter((key) => !(key in state));
      if (missing.length > 0) {
        throw new BranchyIoError(
          'TRAIN_BAD_CHECKPOINT',
          `the checkpoint's optimizer state lacks ${missing.length} slot(s), e.g. '${missing[0]}'; was it written for another network, mode or optimizer (this run uses ${kind})?`,
        );
      }
      const named = [
        { name: 'iter', tensor: tf.scalar(Math.round(state.iter[0]), 'int32') as tf.Tensor },
        ...keys.map((key, i) => {
          const v = variables[i % variables.length];
          return { name: `${v.name}/${slots[Math.floor(i / variables.length)]}`, tensor: tf.tensor(state[key], v.shape) };
        }),
      ];
      await optimizer.setWeights(named);
      named.forEach((n) => n.tensor.dispose());
      // Checkpoints written before the bias corrections were kept resume with tfjs's pow(β, t).
      if (kind === 'adam' && state[ADAM_ACC_BETA1]?.length === 1 && state[ADAM_ACC_BETA2]?.length === 1) {
        const self = optimizer as unknown as AdamInternals;
        tf.tidy(() => {
          self.accBeta1.assign(tf.scalar(state[ADAM_ACC_BETA1][0]));
          self.accBeta2.assign(tf.scalar(state[ADAM_ACC_BETA2][0]));
        });
      }
    },
    dispose() {
      optimizer.dispose();
    },
  };
}
