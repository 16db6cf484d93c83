/**
 * The JSON description of an early-exit network. A network is a trunk cut into stages; exit head n reads stage
 * n's output and ends in a softmax. The last exit is the trunk's own classifier and always answers.
 *
 * Tensors are NHWC (batch, height, width, channels); shapes in a spec leave the batch dimension out.
 */

/** A 2-D size or step: one number for both axes, or `[rows, cols]`. */
export type Size2 = number | readonly [number, number];

/**
 * Convolution padding: `'valid'` (none), `'same'` (output = ceil(input / stride)), or explicit zero padding
 * per side: one number for all four sides, or `[rows, cols]` (each applied on both sides).
 */
export type ConvPadding = 'valid' | 'same' | Size2;

/**
 * Pool padding: `'valid'` drops a partial last window (floor mode); `'ceil'` keeps it (ceil mode, Chainer's
 * `cover_all` and PyTorch's `ceil_mode=True`), padding at the end only.
 */
export type PoolPadding = 'valid' | 'ceil';

/** 2-D convolution with a `kernel × kernel × inChannels × filters` kernel and an optional bias. */
export interface Conv2dLayer {
  type: 'conv2d';
  filters: number;
  kernel: Size2;
  stride?: Size2;
  padding?: ConvPadding;
  /** Add a bias per filter (default true). */
  bias?: boolean;
}

/** Max or average pooling over `size` windows. */
export interface PoolLayer {
  type: 'maxPool' | 'avgPool';
  size: Size2;
  /** Default: the window size. */
  stride?: Size2;
  /** Default `'valid'`. */
  padding?: PoolPadding;
}

/** Average over the whole spatial extent: [h, w, c] → [c]. */
export interface GlobalAvgPoolLayer {
  type: 'globalAvgPool';
}

/** Element-wise max(0, x). */
export interface ReluLayer {
  type: 'relu';
}

/** Batch normalisation over the last axis; moving statistics are used at inference. */
export interface BatchNormLayer {
  type: 'batchNorm';
  /** Default 1e-5. */
  epsilon?: number;
  /** Weight of the old moving statistics per training step (default 0.9). */
  momentum?: number;
}

/** Drops a share `rate` of activations while training; identity at inference. */
export interface DropoutLayer {
  type: 'dropout';
  rate: number;
}

/** [h, w, c] → [h·w·c] in NHWC order. */
export interface FlattenLayer {
  type: 'flatten';
}

/** Fully connected layer on a flat input. */
export interface DenseLayer {
  type: 'dense';
  units: number;
  /** Default true. */
  bias?: boolean;
}

/**
 * Local response normalisation across channels:
 * `x / (bias + alpha · Σ_{|j-c| ≤ depthRadius} x_j²)^beta`. Note that `alpha` multiplies the plain sum (as in
 * TensorFlow and Chainer); Caffe's `alpha` is divided by the window size first.
 */
export interface LrnLayer {
  type: 'lrn';
  /** Default 2 (a window of 5 channels). */
  depthRadius?: number;
  /** Default 1. */
  bias?: number;
  /** Default 1e-4. */
  alpha?: number;
  /** Default 0.75. */
  beta?: number;
}

/**
 * A basic residual block: conv3x3(stride) → batch norm → relu → conv3x3 → batch norm, plus a shortcut, then
 * relu. The shortcut is the identity when shape is kept, else a 1x1 convolution with the block's stride
 * followed by batch norm.
 */
export interface ResidualLayer {
  type: 'residual';
  filters: number;
  /** Default 1. */
  stride?: number;
}

/** One layer of a stage or exit head. */
export type LayerSpec =
  Conv2dLayer | PoolLayer | GlobalAvgPoolLayer | ReluLayer | BatchNormLayer | DropoutLayer | FlattenLayer | DenseLayer | LrnLayer | ResidualLayer;

/** Every layer type name a spec may use. */
export const LAYER_TYPES = [
  'conv2d',
  'maxPool',
  'avgPool',
  'globalAvgPool',
  'relu',
  'batchNorm',
  'dropout',
  'flatten',
  'dense',
  'lrn',
  'residual',
] as const satisfies readonly LayerSpec['type'][];

/** A piece of the trunk. */
export interface StageSpec {
  /** Shown in tables and cost profiles; default `stage n`. */
  name?: string;
  layers: LayerSpec[];
  /**
   * Per-sample output shape of a stage of an imported network (no layer lists), as its exit heads see it:
   * [h, w, c] for feature maps (NHWC, whatever layout the ONNX files use inside the chain), [n] for vectors. Read
   * from the ONNX files when the network is imported; native exit heads after the stage are checked against it.
   */
  output?: number[];
}

/**
 * An exit head, reading the output of the stage with the same index. Its last layer must produce one value per
 * class (the logits); the softmax is implied. An empty layer list means the stage already outputs logits.
 */
export interface ExitSpec {
  name?: string;
  layers: LayerSpec[];
}

/** How inference decides whether a sample leaves at an early exit. */
export interface ExitPolicy {
  /** A registered exit criterion, e.g. `'entropy'` (nats, the paper's) or `'max-prob'`. */
  criterion: string;
  /** One per early exit; a sample leaves exit n when its score is below `thresholds[n-1]`. */
  thresholds: number[];
}

/** Per-channel input normalisation applied before stage 1: `(x - mean) / std`. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/** The whole description of one early-exit network. */
export interface NetworkSpec {
  /** Format marker; currently `'branchy/1'`. */
  format: 'branchy/1';
  name: string;
  description?: string;
  input: {
    /** [height, width, channels]. */
    shape: [number, number, number];
    normalization?: Normalization;
  };
  classes: string[];
  /** The trunk, in order. */
  stages: StageSpec[];
  /** One exit head per stage, in the same order; the last one is the final exit. */
  exits: ExitSpec[];
  policy: ExitPolicy;
  /** Free-form remarks, e.g. where a zoo network departs from its reference. */
  notes?: string[];
  /**
   * Trunk positions (after the k-th layer, counted over all stages) where the network's design places a stage
   * boundary that has no exit yet: a plain trunk's boundaries, e.g. LeNet's at B-LeNet's branch (`[1]`, after the
   * first convolution). `add-exits --at` counts them among the stage boundaries, in trunk order; the stages and
   * every other reader ignore them. Ascending, inside the trunk, and never at a stage's end.
   */
  branchPoints?: number[];
  /**
   * `'onnx'` for a network whose stages exist only as ONNX files (`branchy import-onnx`): every stage's layer list
   * is empty, and what needs the trunk's layers (the tfjs engine, joint training, FLOP and parameter counts)
   * refuses it. Its exit heads are ONNX files too (empty layer lists), or native heads (`branchy add-exits`) with
   * layer lists and weights, which read the stage's `output` shape.
   */
  imported?: 'onnx';
}
