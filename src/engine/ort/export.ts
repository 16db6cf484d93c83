/**
 * Writes one stage or exit head of a network as a standard ONNX model (opset 13) from its spec and weights.
 *
 * The piece's boundaries keep branchy's layout: a stage takes and returns NHWC row-major features exactly as
 * the tfjs engine does, so features pass between engines unchanged; an exit head ends in a softmax and returns
 * probabilities `[batch, classes]`. Inside, feature maps are NCHW (what ONNX operators expect); the graph
 * transposes after its input and before its output where needed. The batch dimension is symbolic (`batch`).
 *
 * @module
 */
import { BRANCHY_VERSION } from '../../common/version.ts';
import { BranchyIoError, BranchySpecError } from '../../common/errors.ts';
import { convPads, hasLayers, layerFacts, pair, poolOut, type FeatureShape } from '../../spec/shapes.ts';
import type { LayerSpec, NetworkSpec, PoolLayer } from '../../spec/types.ts';
import type { ModelSource } from '../types.ts';
import { encodeOnnxModel, ONNX_OPSET, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';

/** Name of every exported piece's input. */
export const ONNX_INPUT = 'input';
/** Name of every exported piece's output. */
export const ONNX_OUTPUT = 'output';
/** Outputs of a fused stage-and-exit graph (`fusedGraph`): exit n's probabilities and stage n's features. */
export const ONNX_FUSED_PROBS = 'probs';
export const ONNX_FUSED_FEATURES = 'features';

/** A stage or an exit head. */
export type OnnxPieceKind = 'stage' | 'exit';

/** The ONNX files of a whole network, one per stage and exit head, in order. */
export interface OnnxPieces {
  stages: Uint8Array[];
  exits: Uint8Array[];
}

type Layout = 'nhwc' | 'nchw' | 'flat';

interface Value {
  name: string;
  layout: Layout;
  /** Per-sample shape in branchy's terms: [h, w, c] or [n]. */
  shape: FeatureShape;
  /**
   * A flat value made by flattening an NCHW map of this [h, w, c] shape in channel-major order, not branchy's
   * [h, w, c] order; only the dense layer that reads it may see it, and it reorders its kernel rows to match.
   */
  channelMajorOf?: FeatureShape;
}

/** Builds one graph: nodes, constants and fresh value names. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private count = 0;

  private readonly weightOf: (name: string, size: number, shape: number[]) => Float32Array;

  constructor(weightOf: (name: string, size: number, shape: number[]) => Float32Array) {
    this.weightOf = weightOf;
  }

  fresh(hint: string): string {
    return `${hint}_${++this.count}`;
  }

  constant(hint: string, dims: number[], data: Float32Array): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** A 1-d int64 constant, e.g. a target shape. */
  int64Constant(hint: string, values: number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims: [values.length], data: { int64: values } });
    return name;
  }

  /** A weight of the piece, by its name in the model's weights. */
  weight(name: string, dims: number[], transform?: (w: Float32Array) => Float32Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    const w = this.weightOf(name, size, dims);
    this.initializers.push({ name, dims, data: transform ? transform(w) : w });
    return name;
  }

  node(opType: string, inputs: string[], attributes: OnnxAttribute[] = [], output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [out], name: out, attributes });
    return out;
  }
}

/** The rows of a dense kernel [h·w·c, units] that reads an [h, w, c] map flattened channel-major. */
function channelMajorRows(w: Float32Array, [h, wd, c]: FeatureShape, units: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < wd; x++)
      for (let ch = 0; ch < c; ch++) {
        out.set(w.subarray(((y * wd + x) * c + ch) * units, ((y * wd + x) * c + ch + 1) * units), ((ch * h + y) * wd + x) * units);
      }
  return out;
}

/** HWIO (tfjs) → OIHW (ONNX). */
function oihw(w: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) {
          out[((o * ci + i) * kh + y) * kw + x] = w[((y * kw + x) * ci + i) * co + o];
        }
  return out;
}

/**
 * A transpose between NHWC and NCHW; with one channel both orders are the same memory, so a reshape (a view in
 * onnxruntime) does instead.
 */
function relayout(g: GraphBuilder, v: Value, layout: 'nchw' | 'nhwc'): Value {
  const [h, w, c] = v.shape;
  if (c === 1) {
    const dims = layout === 'nchw' ? [-1, 1, h, w] : [-1, h, w, 1];
    return { ...v, layout, name: g.node('Reshape', [v.name, g.int64Constant('shape', dims)]) };
  }
  return { ...v, layout, name: g.node('Transpose', [v.name], [{ name: 'perm', ints: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] }]) };
}

function toNchw(g: GraphBuilder, v: Value): Value {
  if (v.layout === 'nchw') return v;
  if (v.layout !== 'nhwc') throw new Error(`internal: cannot make a ${v.layout} value NCHW`);
  return relayout(g, v, 'nchw');
}

function toNhwc(g: GraphBuilder, v: Value): Value {
  if (v.layout !== 'nchw') return v;
  return relayout(g, v, 'nhwc');
}

function conv(
  g: GraphBuilder,
  x: Value,
  prefix: string,
  k: [number, number],
  filters: number,
  stride: [number, number],
  pads: [number, number, number, number],
  bias: boolean,
): string {
  const inC = x.shape[2];
  const dims = [k[0], k[1], inC, filters];
  const kernel = g.weight(`${prefix}kernel`, [filters, inC, k[0], k[1]], (w) => oihw(w, dims));
  const inputs = [x.name, kernel];
  if (bias) inputs.push(g.weight(`${prefix}bias`, [filters]));
  const [t, b, l, r] = pads;
  return g.node('Conv', inputs, [
    { name: 'kernel_shape', ints: k },
    { name: 'strides', ints: stride },
    { name: 'pads', ints: [t, l, b, r] },
  ]);
}

function batchNorm(g: GraphBuilder, x: string, prefix: string, channels: number, epsilon: number): string {
  const p = (name: string) => g.weight(`${prefix}${name}`, [channels]);
  return g.node('BatchNormalization', [x, p('gamma'), p('beta'), p('movingMean'), p('movingVariance')], [{ name: 'epsilon', float: epsilon }]);
}

/**
 * Pools as the tfjs engine runs them. Ceil mode pads the end of each axis; the tfjs engine then either averages
 * over the real values only (when its 'same' padding gives the same windows) or counts the zero padding, so
 * `count_include_pad` follows the same rule.
 */
function pool(g: GraphBuilder, layer: PoolLayer, x: Value): string {
  const [h, w] = x.shape;
  const k = pair(layer.size);
  const s = pair(layer.stride ?? layer.size);
  let pads = [0, 0, 0, 0];
  let countIncludePad = 0;
  if (layer.padding === 'ceil') {
    const oh = poolOut(h, k[0], s[0], 'ceil');
    const ow = poolOut(w, k[1], s[1], 'ceil');
    const extraH = Math.max((oh - 1) * s[0] + k[0] - h, 0);
    const extraW = Math.max((ow - 1) * s[1] + k[1] - w, 0);
    pads = [0, 0, extraH, extraW];
    const sameTop = Math.floor(Math.max((Math.ceil(h / s[0]) - 1) * s[0] + k[0] - h, 0) / 2);
    const sameLeft = Math.floor(Math.max((Math.ceil(w / s[1]) - 1) * s[1] + k[1] - w, 0) / 2);
    const sameIsCeil = Math.ceil(h / s[0]) === oh && Math.ceil(w / s[1]) === ow && sameTop === 0 && sameLeft === 0;
    countIncludePad = extraH + extraW > 0 && !sameIsCeil ? 1 : 0;
  }
  const attributes: OnnxAttribute[] = [
    { name: 'kernel_shape', ints: k },
    { name: 'strides', ints: s },
    { name: 'pads', ints: pads },
  ];
  if (layer.type === 'avgPool') attributes.push({ name: 'count_include_pad', int: countIncludePad });
  return g.node(layer.type === 'maxPool' ? 'MaxPool' : 'AveragePool', [x.name], attributes);
}

function residual(g: GraphBuilder, x: Value, prefix: string, filters: number, stride: number): string {
  const [h, w, c] = x.shape;
  const s: [number, number] = [stride, stride];
  let y = conv(g, x, `${prefix}conv1.`, [3, 3], filters, s, convPads('same', h, w, [3, 3], s), false);
  y = g.node('Relu', [batchNorm(g, y, `${prefix}bn1.`, filters, 1e-5)]);
  const oh = Math.ceil(h / stride);
  const ow = Math.ceil(w / stride);
  y = conv(
    g,
    { name: y, layout: 'nchw', shape: [oh, ow, filters] },
    `${prefix}conv2.`,
    [3, 3],
    filters,
    [1, 1],
    convPads('same', oh, ow, [3, 3], [1, 1]),
    false,
  );
  y = batchNorm(g, y, `${prefix}bn2.`, filters, 1e-5);
  let shortcut = x.name;
  if (stride !== 1 || c !== filters) {
    shortcut = batchNorm(g, conv(g, x, `${prefix}project.`, [1, 1], filters, s, [0, 0, 0, 0], false), `${prefix}projectBn.`, filters, 1e-5);
  }
  return g.node('Relu', [g.node('Add', [y, shortcut])]);
}

function unsupported(layer: LayerSpec, where: string): never {
  const type = (layer as { type?: unknown }).type;
  throw new BranchySpecError('ONNX_UNSUPPORTED_LAYER', `${where}: layer type ${JSON.stringify(type)} has no ONNX export.`);
}

const EXPORTABLE: ReadonlySet<string> = new Set<LayerSpec['type']>([
  'conv2d',
  'maxPool',
  'avgPool',
  'globalAvgPool',
  'relu',
  'dropout',
  'batchNorm',
  'lrn',
  'flatten',
  'dense',
  'residual',
]);

/**
 * Writes one layer after `x`. `next` is the layer that reads its result within the same piece (dropout, an
 * identity, skipped), if any: a flatten feeding a dense layer skips the transpose to branchy's order, whose
 * permutation the dense kernel's rows absorb instead.
 */
function applyLayer(g: GraphBuilder, layer: LayerSpec, x: Value, prefix: string, where: string, next?: LayerSpec): Value {
  if (!EXPORTABLE.has(layer.type)) unsupported(layer, where);
  const output = layerFacts(layer, x.shape, where).output;
  const same = (name: string, v: Value = x): Value => ({ name, layout: v.layout, shape: output });
  switch (layer.type) {
    case 'conv2d': {
      const v = toNchw(g, x);
      const k = pair(layer.kernel);
      const s = pair(layer.stride ?? 1);
      const pads = convPads(layer.padding ?? 'valid', x.shape[0], x.shape[1], k, s);
      return same(conv(g, v, prefix, k, layer.filters, s, pads, layer.bias !== false), v);
    }
    case 'maxPool':
    case 'avgPool': {
      const v = toNchw(g, x);
      return same(pool(g, layer, v), v);
    }
    case 'globalAvgPool': {
      const v = toNchw(g, x);
      return { name: g.node('Flatten', [g.node('GlobalAveragePool', [v.name])], [{ name: 'axis', int: 1 }]), layout: 'flat', shape: output };
    }
    case 'relu':
      return same(g.node('Relu', [x.name]));
    case 'dropout':
      return x;
    case 'batchNorm': {
      const v = x.layout === 'flat' ? x : toNchw(g, x);
      return same(batchNorm(g, v.name, prefix, x.shape[x.shape.length - 1], layer.epsilon ?? 1e-5), v);
    }
    case 'lrn': {
      const v = toNchw(g, x);
      const size = 2 * (layer.depthRadius ?? 2) + 1;
      // ONNX divides alpha by the window size; branchy's alpha multiplies the plain sum.
      return same(
        g.node(
          'LRN',
          [v.name],
          [
            { name: 'size', int: size },
            { name: 'alpha', float: (layer.alpha ?? 1e-4) * size },
            { name: 'beta', float: layer.beta ?? 0.75 },
            { name: 'bias', float: layer.bias ?? 1 },
          ],
        ),
        v,
      );
    }
    case 'flatten': {
      const channelMajor = x.layout === 'nchw' && next?.type === 'dense';
      const v = channelMajor ? x : toNhwc(g, x);
      const flat: Value = { name: g.node('Flatten', [v.name], [{ name: 'axis', int: 1 }]), layout: 'flat', shape: output };
      return channelMajor ? { ...flat, channelMajorOf: x.shape } : flat;
    }
    case 'dense': {
      const from = x.channelMajorOf;
      const kernel = g.weight(`${prefix}kernel`, [x.shape[0], layer.units], from && ((w) => channelMajorRows(w, from, layer.units)));
      const inputs = [x.name, kernel];
      if (layer.bias !== false) inputs.push(g.weight(`${prefix}bias`, [layer.units]));
      return { name: g.node('Gemm', inputs), layout: 'flat', shape: output };
    }
    case 'residual': {
      const v = toNchw(g, x);
      return same(residual(g, v, prefix, layer.filters, layer.stride ?? 1), v);
    }
  }
}

/** Per-sample input shape of stage n / exit n. */
export function pieceInputShape(spec: NetworkSpec, kind: OnnxPieceKind, n: number): FeatureShape {
  const imported = spec.stages[n - 1]?.output;
  if (!hasLayers(spec) && kind === 'exit' && imported) return imported;
  let shape: FeatureShape = spec.input.shape;
  for (let i = 0; i < n - 1 + (kind === 'exit' ? 1 : 0); i++) {
    for (const [li, layer] of spec.stages[i].layers.entries()) shape = layerFacts(layer, shape, `stages[${i}].layers[${li}]`).output;
  }
  return shape;
}

/** Checks that piece n exists and has layers, and returns a graph builder over the model's weights. */
function builderFor(source: ModelSource, kind: OnnxPieceKind, n: number): GraphBuilder {
  const { spec, weights } = source;
  const list = kind === 'stage' ? spec.stages : spec.exits;
  if (!Number.isInteger(n) || n < 1 || n > list.length)
    throw new BranchySpecError('ONNX_BAD_PIECE', `${kind} ${n} does not exist; '${spec.name}' has ${list.length}.`);
  if (!hasLayers(spec) && !(kind === 'exit' && spec.exits[n - 1].layers.length > 0))
    throw new BranchySpecError(
      'ONNX_NO_LAYERS',
      `${kind} ${n} of '${spec.name}' was imported from ONNX and has no layer list to export; its ONNX file is the piece.`,
    );
  return new GraphBuilder((name, size, dims) => {
    const w = weights[name];
    if (!w) throw new BranchyIoError('MODEL_MISSING_WEIGHT', `weight '${name}' (shape [${dims.join(', ')}]) is missing from the model's weights.`);
    if (w.length !== size)
      throw new BranchyIoError('MODEL_WEIGHT_SHAPE', `weight '${name}' has ${w.length} values; the spec needs [${dims.join(', ')}] = ${size}.`);
    return w;
  });
}

/** The boundary value a piece's graph starts from: its input, NHWC or flat. */
function inputValue(spec: NetworkSpec, kind: OnnxPieceKind, n: number): Value {
  const input = pieceInputShape(spec, kind, n);
  return { name: ONNX_INPUT, layout: input.length === 3 ? 'nhwc' : 'flat', shape: input };
}

/**
 * Emits stage or exit n into `g` after `x` and returns its result in the graph's internal layout: a stage's
 * features (possibly still NCHW; `toNhwc` makes them a boundary value) or an exit head's probabilities.
 */
function emitPiece(g: GraphBuilder, spec: NetworkSpec, kind: OnnxPieceKind, n: number, x: Value): Value {
  const norm = spec.input.normalization;
  if (kind === 'stage' && n === 1 && norm) {
    // Normalised in NCHW, per channel: onnxruntime runs this form several times faster than the NHWC one.
    x = toNchw(g, x);
    const c = x.shape[2];
    const centred = g.node('Sub', [x.name, g.constant('mean', [1, c, 1, 1], Float32Array.from(norm.mean))]);
    x = {
      ...x,
      name: g.node('Mul', [
        centred,
        g.constant(
          'inv_std',
          [1, c, 1, 1],
          Float32Array.from(norm.std, (s) => 1 / s),
        ),
      ]),
    };
  }
  const layers = (kind === 'stage' ? spec.stages : spec.exits)[n - 1].layers;
  const reader = (li: number) => layers.slice(li + 1).find((l) => l.type !== 'dropout');
  for (let li = 0; li < layers.length; li++) {
    const emit = (at: number) => {
      x = applyLayer(g, layers[at], x, `${kind}${n}.${at}.`, `${kind}s[${n - 1}].layers[${at}]`, reader(at));
    };
    if (layers[li].type === 'maxPool' && layers[li + 1]?.type === 'relu') {
      // relu(maxPool(x)) = maxPool(relu(x)) exactly; in this order onnxruntime fuses a conv before it with the relu.
      emit(li + 1);
      emit(li);
      li++;
    } else emit(li);
  }
  return kind === 'exit' ? { ...x, name: g.node('Softmax', [x.name], [{ name: 'axis', int: 1 }]) } : x;
}

/** The ONNX graph of stage or exit n of a network with layer lists. */
export function pieceGraph(source: ModelSource, kind: OnnxPieceKind, n: number): OnnxGraph {
  const { spec } = source;
  const g = builderFor(source, kind, n);
  const input = inputValue(spec, kind, n);
  const x = toNhwc(g, emitPiece(g, spec, kind, n, input));
  g.node('Identity', [x.name], [], ONNX_OUTPUT);
  return {
    name: `${spec.name}.${kind}${n}`,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: ONNX_INPUT, shape: ['batch', ...input.shape] }],
    outputs: [{ name: ONNX_OUTPUT, shape: ['batch', ...x.shape] }],
  };
}

/**
 * One graph of stage n followed by exit head n, for running both in one onnxruntime call. It takes stage n's
 * input (named `input`, as `stage_n.onnx`) and returns exit n's probabilities (`probs`) and, when `features` is
 * true (it may be only before the last stage), stage n's NHWC features (`features`), both equal to what the two
 * separate pieces return. The head reads the stage's result in the graph's internal layout, so no transpose pair
 * sits between them; without the features output nothing but the head reads the stage's result, so onnxruntime
 * may fuse across it.
 */
export function fusedGraph(source: ModelSource, n: number, features = n < source.spec.stages.length): OnnxGraph {
  const { spec } = source;
  const g = builderFor(source, 'stage', n);
  if (features && n === spec.stages.length)
    throw new BranchySpecError('ONNX_BAD_PIECE', `stage ${n} is the last of '${spec.name}'; its fused graph has no features output.`);
  const input = inputValue(spec, 'stage', n);
  const stageOut = emitPiece(g, spec, 'stage', n, input);
  const probs = emitPiece(g, spec, 'exit', n, stageOut);
  g.node('Identity', [probs.name], [], ONNX_FUSED_PROBS);
  const outputs = [{ name: ONNX_FUSED_PROBS, shape: ['batch', ...probs.shape] }];
  if (features) {
    const nhwc = toNhwc(g, stageOut);
    g.node('Identity', [nhwc.name], [], ONNX_FUSED_FEATURES);
    outputs.push({ name: ONNX_FUSED_FEATURES, shape: ['batch', ...nhwc.shape] });
  }
  return {
    name: `${spec.name}.stage${n}+exit${n}`,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: ONNX_INPUT, shape: ['batch', ...input.shape] }],
    outputs,
  };
}

/** The fused graphs of one stage as ONNX bytes: probabilities only, and, before the last stage, with features. */
export interface FusedModels {
  probsOnly: Uint8Array;
  withFeatures?: Uint8Array;
}

/** A graph as an ONNX model written by branchy, with the piece it holds in its metadata (`branchy.piece`). */
function encodeBranchyGraph(graph: OnnxGraph, piece: string): Uint8Array {
  return encodeOnnxModel({ graph, producerName: 'branchy', producerVersion: BRANCHY_VERSION, opset: ONNX_OPSET, metadata: { 'branchy.piece': piece } });
}

/**
 * Stage or exit n of a network as ONNX bytes.
 *
 * @throws BranchySpecError `ONNX_UNSUPPORTED_LAYER` naming a layer the exporter cannot write; BranchyIoError
 *   `MODEL_MISSING_WEIGHT` / `MODEL_WEIGHT_SHAPE` when a weight is absent or the wrong size.
 */
export function exportPiece(source: ModelSource, kind: OnnxPieceKind, n: number): Uint8Array {
  return encodeBranchyGraph(pieceGraph(source, kind, n), `${kind}_${n}`);
}

/** Every stage and exit head of a network as ONNX bytes. */
export function exportNetwork(source: ModelSource): OnnxPieces {
  const n = source.spec.stages.length;
  const range = Array.from({ length: n }, (_, i) => i + 1);
  return { stages: range.map((i) => exportPiece(source, 'stage', i)), exits: range.map((i) => exportPiece(source, 'exit', i)) };
}

/**
 * The fused stage-and-exit graphs of every stage as ONNX bytes (see `fusedGraph`). They are built in memory for
 * onnxruntime sessions, never written to a model directory.
 */
export function exportFused(source: ModelSource): FusedModels[] {
  const depth = source.spec.stages.length;
  const encode = (n: number, features: boolean) => encodeBranchyGraph(fusedGraph(source, n, features), `stage_${n}+exit_${n}`);
  return source.spec.stages.map((_, i) =>
    i + 1 < depth ? { probsOnly: encode(i + 1, false), withFeatures: encode(i + 1, true) } : { probsOnly: encode(i + 1, false) },
  );
}
