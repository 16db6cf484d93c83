import { BranchySpecError } from '../common/errors.ts';
import type { ConvPadding, LayerSpec, NetworkSpec, PoolPadding, Size2 } from './types.ts';

/**
 * Largest size a spec may state (a dim, a filter or unit count, a kernel) and largest number of values one sample
 * may hold at any point of the network: 2^31 - 1, the most elements tfjs and onnxruntime index in a tensor. Bounding
 * both keeps every shape, parameter count and FLOP count a spec implies a finite number, whatever the file claims.
 */
export const MAX_SPEC_SIZE = 2 ** 31 - 1;

/** Throws `SPEC_SHAPE` when one sample of `shape` holds more than {@link MAX_SPEC_SIZE} values. */
export function checkSampleSize(shape: readonly number[], where: string): void {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_SPEC_SIZE) fail(where, `[${shape.join(', ')}] holds ${size} values per sample; at most ${MAX_SPEC_SIZE} are allowed.`);
}

/** A per-sample shape: [h, w, c] for feature maps, [n] for flat vectors. */
export type FeatureShape = readonly number[];

/** What one layer turns its input into, and what it costs per sample. */
export interface LayerFacts {
  output: FeatureShape;
  /** Trainable parameters plus batch-norm statistics. */
  params: number;
  /** Multiply–adds counted as two FLOPs, per sample. */
  flops: number;
}

/** Expands a `Size2` to `[rows, cols]`. */
export function pair(v: Size2): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Explicit [top, bottom, left, right] zero padding for a convolution, as the engines apply it. */
export function convPads(padding: ConvPadding, inH: number, inW: number, k: [number, number], s: [number, number]): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const total = (size: number, kk: number, ss: number) => Math.max((Math.ceil(size / ss) - 1) * ss + kk - size, 0);
    const th = total(inH, k[0], s[0]);
    const tw = total(inW, k[1], s[1]);
    return [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  }
  const [ph, pw] = pair(padding);
  return [ph, ph, pw, pw];
}

/** Output size of a pool along one axis. */
export function poolOut(size: number, k: number, s: number, padding: PoolPadding): number {
  return padding === 'ceil' ? Math.ceil((size - k) / s) + 1 : Math.floor((size - k) / s) + 1;
}

function fail(where: string, message: string): never {
  throw new BranchySpecError('SPEC_SHAPE', `${where}: ${message}`);
}

function spatial(where: string, type: string, input: FeatureShape): [number, number, number] {
  if (input.length !== 3)
    fail(
      where,
      `'${type}' needs a [height, width, channels] input, got [${input.join(', ')}]; a flat vector cannot be ${type === 'flatten' ? 'flattened again' : 'convolved or pooled'}.`,
    );
  return [input[0], input[1], input[2]];
}

/** Shape, parameters and FLOPs of one layer on a given per-sample input shape. Throws `SPEC_SHAPE` if it does not fit. */
export function layerFacts(layer: LayerSpec, input: FeatureShape, where: string): LayerFacts {
  const size = input.reduce((a, b) => a * b, 1);
  switch (layer.type) {
    case 'conv2d': {
      const [h, w, c] = spatial(where, layer.type, input);
      const k = pair(layer.kernel);
      const s = pair(layer.stride ?? 1);
      const [pt, pb, pl, pr] = convPads(layer.padding ?? 'valid', h, w, k, s);
      const oh = Math.floor((h + pt + pb - k[0]) / s[0]) + 1;
      const ow = Math.floor((w + pl + pr - k[1]) / s[1]) + 1;
      if (oh < 1 || ow < 1) fail(where, `conv2d kernel ${k.join('x')} does not fit a ${h}x${w} input with this padding.`);
      const weights = k[0] * k[1] * c * layer.filters;
      return { output: [oh, ow, layer.filters], params: weights + (layer.bias === false ? 0 : layer.filters), flops: 2 * weights * oh * ow };
    }
    case 'maxPool':
    case 'avgPool': {
      const [h, w, c] = spatial(where, layer.type, input);
      const k = pair(layer.size);
      const s = pair(layer.stride ?? layer.size);
      const mode = layer.padding ?? 'valid';
      const oh = poolOut(h, k[0], s[0], mode);
      const ow = poolOut(w, k[1], s[1], mode);
      if (oh < 1 || ow < 1) fail(where, `${layer.type} window ${k.join('x')} does not fit a ${h}x${w} input.`);
      return { output: [oh, ow, c], params: 0, flops: oh * ow * c * k[0] * k[1] };
    }
    case 'globalAvgPool': {
      const [h, w, c] = spatial(where, layer.type, input);
      return { output: [c], params: 0, flops: h * w * c };
    }
    case 'relu':
    case 'dropout':
      return { output: input, params: 0, flops: layer.type === 'relu' ? size : 0 };
    case 'batchNorm':
      return { output: input, params: 4 * input[input.length - 1], flops: 2 * size };
    case 'lrn': {
      spatial(where, layer.type, input);
      const window = 2 * (layer.depthRadius ?? 2) + 1;
      return { output: input, params: 0, flops: size * (2 * window + 4) };
    }
    case 'flatten':
      spatial(where, layer.type, input);
      return { output: [size], params: 0, flops: 0 };
    case 'dense': {
      if (input.length !== 1) fail(where, `'dense' needs a flat input, got [${input.join(', ')}]; insert {"type": "flatten"} before it.`);
      return { output: [layer.units], params: input[0] * layer.units + (layer.bias === false ? 0 : layer.units), flops: 2 * input[0] * layer.units };
    }
    case 'residual': {
      const [h, w, c] = spatial(where, layer.type, input);
      const s = layer.stride ?? 1;
      const oh = Math.ceil(h / s);
      const ow = Math.ceil(w / s);
      const f = layer.filters;
      const conv1 = 9 * c * f;
      const conv2 = 9 * f * f;
      const project = s !== 1 || c !== f;
      const shortcut = project ? c * f : 0;
      const params = conv1 + conv2 + shortcut + 4 * f * (project ? 3 : 2);
      const flops = 2 * (conv1 + conv2 + shortcut) * oh * ow + 8 * oh * ow * f;
      return { output: [oh, ow, f], params, flops };
    }
  }
}

/** Facts for a list of layers applied in order. */
export function layersFacts(layers: readonly LayerSpec[], input: FeatureShape, where: string): LayerFacts {
  let shape = input;
  let params = 0;
  let flops = 0;
  layers.forEach((layer, i) => {
    const f = layerFacts(layer, shape, `${where}.layers[${i}]`);
    checkSampleSize(f.output, `${where}.layers[${i}]`);
    shape = f.output;
    params += f.params;
    flops += f.flops;
  });
  return { output: shape, params, flops };
}

/** Per-stage and per-exit shapes and costs of a network. */
export interface NetworkFacts {
  stages: LayerFacts[];
  exits: LayerFacts[];
  /** Parameters of the whole network (trunk and every exit). */
  params: number;
  /** FLOPs per sample to reach and evaluate exit n (index n-1): stages 1..n plus exit heads 1..n. */
  flopsToExit: number[];
}

/** Whether a spec describes its pieces as layers (false for a network imported from ONNX). */
export function hasLayers(spec: NetworkSpec): boolean {
  return spec.imported === undefined;
}

/**
 * Computes `NetworkFacts` for a spec whose structure is already valid.
 *
 * @throws BranchySpecError `SPEC_NO_LAYERS` for a network imported from ONNX, whose layers are unknown.
 */
export function networkFacts(spec: NetworkSpec): NetworkFacts {
  if (!hasLayers(spec)) throw new BranchySpecError('SPEC_NO_LAYERS', `'${spec.name}' was imported from ONNX; its layers, FLOPs and parameters are unknown.`);
  const stages: LayerFacts[] = [];
  const exits: LayerFacts[] = [];
  let shape: FeatureShape = spec.input.shape;
  spec.stages.forEach((stage, i) => {
    const f = layersFacts(stage.layers, shape, `stages[${i}]`);
    stages.push(f);
    shape = f.output;
    exits.push(layersFacts(spec.exits[i].layers, shape, `exits[${i}]`));
  });
  const params = [...stages, ...exits].reduce((a, f) => a + f.params, 0);
  const flopsToExit: number[] = [];
  let trunk = 0;
  let heads = 0;
  for (let i = 0; i < stages.length; i++) {
    trunk += stages[i].flops;
    heads += exits[i].flops;
    flopsToExit.push(trunk + heads);
  }
  return { stages, exits, params, flopsToExit };
}
