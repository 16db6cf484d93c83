import * as tf from '@tensorflow/tfjs-core';
import { Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Rng } from '../../common/rng.ts';
import { convPads, layerFacts, pair, poolOut, type FeatureShape } from '../../spec/shapes.ts';
import type { LayerSpec, PoolLayer } from '../../spec/types.ts';

/** One weight tensor a layer needs, with its initial value. */
export interface ParamInit {
  /** Name relative to the layer, e.g. `kernel`, `bn1.movingMean`. */
  name: string;
  shape: number[];
  /** Moving statistics are state, not learnt by the optimiser. */
  trainable: boolean;
  init: (rng: Rng) => Float32Array;
}

/** LeCun normal (std = 1/√fanIn), Chainer's default for convolutions and linear layers. */
const lecun = (shape: number[], fanIn: number) => (rng: Rng) => {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const std = 1 / Math.sqrt(fanIn);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal() * std;
  return out;
};
const filled = (shape: number[], value: number) => () => new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value);

function convParams(prefix: string, k: [number, number], inC: number, filters: number, bias: boolean): ParamInit[] {
  const shape = [k[0], k[1], inC, filters];
  const params: ParamInit[] = [{ name: `${prefix}kernel`, shape, trainable: true, init: lecun(shape, k[0] * k[1] * inC) }];
  if (bias) params.push({ name: `${prefix}bias`, shape: [filters], trainable: true, init: filled([filters], 0) });
  return params;
}

function batchNormParams(prefix: string, channels: number): ParamInit[] {
  const s = [channels];
  return [
    { name: `${prefix}gamma`, shape: s, trainable: true, init: filled(s, 1) },
    { name: `${prefix}beta`, shape: s, trainable: true, init: filled(s, 0) },
    { name: `${prefix}movingMean`, shape: s, trainable: false, init: filled(s, 0) },
    { name: `${prefix}movingVariance`, shape: s, trainable: false, init: filled(s, 1) },
  ];
}

/** The weights a layer owns on a given per-sample input shape. */
export function layerParams(layer: LayerSpec, input: FeatureShape): ParamInit[] {
  switch (layer.type) {
    case 'conv2d':
      return convParams('', pair(layer.kernel), input[2], layer.filters, layer.bias !== false);
    case 'dense': {
      const shape = [input[0], layer.units];
      const params: ParamInit[] = [{ name: 'kernel', shape, trainable: true, init: lecun(shape, input[0]) }];
      if (layer.bias !== false) params.push({ name: 'bias', shape: [layer.units], trainable: true, init: filled([layer.units], 0) });
      return params;
    }
    case 'batchNorm':
      return batchNormParams('', input[input.length - 1]);
    case 'residual': {
      const f = layer.filters;
      const params = [
        ...convParams('conv1.', [3, 3], input[2], f, false),
        ...batchNormParams('bn1.', f),
        ...convParams('conv2.', [3, 3], f, f, false),
        ...batchNormParams('bn2.', f),
      ];
      if ((layer.stride ?? 1) !== 1 || input[2] !== f) params.push(...convParams('project.', [1, 1], input[2], f, false), ...batchNormParams('projectBn.', f));
      return params;
    }
    default:
      return [];
  }
}

/** What a layer needs while it runs. */
export interface LayerContext {
  training: boolean;
  /** Looks up one of the layer's weights by its relative name. */
  param(name: string): tf.Variable;
  /** A fresh seed for dropout masks; deterministic per training step. */
  nextSeed(): number;
  /** The layer's input needs no gradient (it is the network's input, or features of a frozen trunk). */
  inputIsConstant?: boolean;
}

type ConvPad = 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function conv(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  bias: tf.Tensor1D | undefined,
  stride: [number, number],
  pads: [number, number, number, number],
  ctx?: LayerContext,
): tf.Tensor4D {
  const [t, b, l, r] = pads;
  const pad: ConvPad =
    t + b + l + r === 0
      ? 'valid'
      : [
          [0, 0],
          [t, b],
          [l, r],
          [0, 0],
        ];
  if (ctx?.training && ctx.inputIsConstant) return convOfConstant(x, kernel, bias, stride, pad);
  return tf.fused.conv2d({ x, filter: kernel, strides: stride, pad, bias });
}

/**
 * A conv whose input needs no gradient (the network's input): the fused op's gradient would compute the input
 * gradient anyway, a full transposed conv for nothing; this one's gradient covers only the kernel and bias.
 */
function convOfConstant(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor1D | undefined, strides: [number, number], pad: ConvPad): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    // The last argument is the save function; the tensors before it are the kernel and, if any, the bias.
    const [k, b] = args.slice(0, -1) as [tf.Tensor4D, tf.Tensor1D | undefined];
    const save = args[args.length - 1] as tf.GradSaveFunc;
    // x must be saved: intermediate tensors of the forward pass are disposed before the backward pass runs.
    save([x]);
    return {
      value: tf.fused.conv2d({ x, filter: k, strides, pad, bias: b }),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dKernel = tf
          .engine()
          .runKernel(Conv2DBackpropFilter, { x: saved[0], dy }, { strides, pad, dataFormat: 'NHWC', filterShape: kernel.shape }) as tf.Tensor;
        return b === undefined ? [dKernel] : [dKernel, tf.sum(dy, [0, 1, 2])];
      },
    };
  });
  return (bias === undefined ? op(kernel) : op(kernel, bias)) as tf.Tensor4D;
}

function pool(layer: PoolLayer, x: tf.Tensor4D): tf.Tensor4D {
  const k = pair(layer.size);
  const s = pair(layer.stride ?? layer.size);
  const [h, w] = [x.shape[1], x.shape[2]];
  const max = layer.type === 'maxPool';
  const run = (input: tf.Tensor4D, pad: 'valid' | 'same') => (max ? tf.maxPool(input, k, s, pad) : tf.avgPool(input, k, s, pad));
  if (layer.padding !== 'ceil') return run(x, 'valid');
  const oh = poolOut(h, k[0], s[0], 'ceil');
  const ow = poolOut(w, k[1], s[1], 'ceil');
  const extraH = (oh - 1) * s[0] + k[0] - h;
  const extraW = (ow - 1) * s[1] + k[1] - w;
  if (extraH <= 0 && extraW <= 0) return run(x, 'valid');
  // tfjs 'same' pads mostly at the end; where it yields the ceil-mode output with nothing padded at the start, it
  // is exactly ceil mode (and avgPool then ignores the padding, as ceil mode does).
  const sameTop = Math.floor(Math.max((Math.ceil(h / s[0]) - 1) * s[0] + k[0] - h, 0) / 2);
  const sameLeft = Math.floor(Math.max((Math.ceil(w / s[1]) - 1) * s[1] + k[1] - w, 0) / 2);
  if (Math.ceil(h / s[0]) === oh && Math.ceil(w / s[1]) === ow && sameTop === 0 && sameLeft === 0) return run(x, 'same');
  const padded = tf.pad(
    x,
    [
      [0, 0],
      [0, Math.max(extraH, 0)],
      [0, Math.max(extraW, 0)],
      [0, 0],
    ],
    max ? -3.4e38 : 0,
  );
  return run(padded, 'valid');
}

function batchNorm(x: tf.Tensor, ctx: LayerContext, prefix: string, epsilon: number, momentum: number): tf.Tensor {
  const gamma = ctx.param(`${prefix}gamma`);
  const beta = ctx.param(`${prefix}beta`);
  const movingMean = ctx.param(`${prefix}movingMean`);
  const movingVariance = ctx.param(`${prefix}movingVariance`);
  if (!ctx.training) return tf.batchNorm(x, movingMean, movingVariance, beta, gamma, epsilon);
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  tf.tidy(() => {
    movingMean.assign(tf.add(tf.mul(movingMean, momentum), tf.mul(mean, 1 - momentum)));
    movingVariance.assign(tf.add(tf.mul(movingVariance, momentum), tf.mul(variance, 1 - momentum)));
  });
  return batchNormOfBatch(x, gamma, beta, mean, variance, epsilon, axes);
}

/**
 * Batch norm with the batch's own statistics, with the closed-form gradient
 * dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy · x̂)) over the batch axes. tfjs's generic gradient (of batchNorm, plus that
 * of the moments it is fed) takes several times as many full-size ops, tiles included.
 */
function batchNormOfBatch(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number, axes: number[]): tf.Tensor {
  const count = x.size / x.shape[x.shape.length - 1];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, offset] = args.slice(0, 3) as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const normalized = tf.mul(tf.sub(input, mean), invStd);
    save([normalized, invStd]);
    return {
      value: tf.add(tf.mul(normalized, scale), offset),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, inverse] = saved;
        const dOffset = tf.sum(dy, axes);
        const dScale = tf.sum(tf.mul(dy, xHat), axes);
        const centred = tf.sub(tf.sub(dy, tf.div(dOffset, count)), tf.mul(xHat, tf.div(dScale, count)));
        return [tf.mul(centred, tf.mul(scale, inverse)), dScale, dOffset];
      },
    };
  });
  return op(x, gamma, beta);
}

/** Applies one layer to a batch. Call inside `tf.tidy`. */
export function applyLayer(layer: LayerSpec, x: tf.Tensor, ctx: LayerContext): tf.Tensor {
  switch (layer.type) {
    case 'conv2d': {
      const x4 = x as tf.Tensor4D;
      const k = pair(layer.kernel);
      const s = pair(layer.stride ?? 1);
      const pads = convPads(layer.padding ?? 'valid', x4.shape[1], x4.shape[2], k, s);
      const bias = layer.bias === false ? undefined : (ctx.param('bias') as tf.Tensor1D);
      return conv(x4, ctx.param('kernel') as tf.Tensor4D, bias, s, pads, ctx);
    }
    case 'maxPool':
    case 'avgPool':
      return pool(layer, x as tf.Tensor4D);
    case 'globalAvgPool':
      return tf.mean(x, [1, 2]);
    case 'relu':
      return tf.relu(x);
    case 'batchNorm':
      return batchNorm(x, ctx, '', layer.epsilon ?? 1e-5, layer.momentum ?? 0.9);
    case 'dropout':
      return ctx.training && layer.rate > 0 ? tf.dropout(x, layer.rate, undefined, ctx.nextSeed()) : x;
    case 'flatten':
      return tf.reshape(x, [x.shape[0], -1]);
    case 'dense': {
      const bias = layer.bias === false ? undefined : ctx.param('bias');
      return tf.fused.matMul({ a: x as tf.Tensor2D, b: ctx.param('kernel') as tf.Tensor2D, bias });
    }
    case 'lrn':
      return tf.localResponseNormalization(x as tf.Tensor4D, layer.depthRadius ?? 2, layer.bias ?? 1, layer.alpha ?? 1e-4, layer.beta ?? 0.75);
    case 'residual': {
      const x4 = x as tf.Tensor4D;
      const s = layer.stride ?? 1;
      const pads = (size: [number, number]) => convPads('same', x4.shape[1], x4.shape[2], size, [s, s]);
      let y = conv(x4, ctx.param('conv1.kernel') as tf.Tensor4D, undefined, [s, s], pads([3, 3]));
      y = tf.relu(batchNorm(y, ctx, 'bn1.', 1e-5, 0.9)) as tf.Tensor4D;
      y = conv(y, ctx.param('conv2.kernel') as tf.Tensor4D, undefined, [1, 1], convPads('same', y.shape[1], y.shape[2], [3, 3], [1, 1]));
      y = batchNorm(y, ctx, 'bn2.', 1e-5, 0.9) as tf.Tensor4D;
      let shortcut: tf.Tensor = x4;
      if (s !== 1 || x4.shape[3] !== layer.filters) {
        shortcut = batchNorm(conv(x4, ctx.param('project.kernel') as tf.Tensor4D, undefined, [s, s], [0, 0, 0, 0]), ctx, 'projectBn.', 1e-5, 0.9);
      }
      return tf.relu(tf.add(y, shortcut));
    }
  }
}

/** Output shape of a layer (delegates to the spec's shape rules, so engine and spec cannot disagree). */
export function layerOutputShape(layer: LayerSpec, input: FeatureShape): FeatureShape {
  return layerFacts(layer, input, 'layer').output;
}
