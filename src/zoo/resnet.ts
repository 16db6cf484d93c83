import { BranchyArgumentError } from '../common/errors.ts';
import type { LayerSpec, LrnLayer, NetworkSpec } from '../spec/types.ts';
import { CIFAR10_CLASSES, zooInput, type ZooOptions } from './options.ts';

/** Options of the CIFAR-10 ResNet family. */
export interface ResnetOptions extends ZooOptions {
  /**
   * Residual blocks in each of the three groups (16, 32 and 64 filters); the depth is `6 · blocksPerGroup + 2`.
   * Default 18 (ResNet-110); 3 gives the quick ResNet-20.
   */
  blocksPerGroup?: number;
}

/** ResNet-110's blocks per group, the reference's `n = 18`. */
export const RESNET110_BLOCKS = 18;

/** ResNet-20's blocks per group: the short variant for tests and quick runs. */
export const RESNET20_BLOCKS = 3;

/** Chainer's `local_response_normalization(n=3, alpha=5e-5, beta=0.75)`, default `k=2`; alpha on the plain sum. */
const LRN: LrnLayer = { type: 'lrn', depthRadius: 1, bias: 2, alpha: 5e-5, beta: 0.75 };

const conv3 = (filters: number): LayerSpec => ({ type: 'conv2d', filters, kernel: 3, padding: 1 });

/** `count` residual blocks of `filters`, the first with `firstStride`. */
function group(filters: number, count: number, firstStride: number): LayerSpec[] {
  return Array.from({ length: count }, (_, i): LayerSpec =>
    i === 0 && firstStride !== 1 ? { type: 'residual', filters, stride: firstStride } : { type: 'residual', filters },
  );
}

function blocks(options: ResnetOptions): number {
  const n = options.blocksPerGroup ?? RESNET110_BLOCKS;
  if (!Number.isInteger(n) || n < 1) throw new BranchyArgumentError('ZOO_BAD_OPTION', `'blocksPerGroup' is ${n}; it must be a whole number of at least 1.`);
  return n;
}

/**
 * The stem: the reference's `Convolution2D(3, 16, 3, 1, 0)` has no padding, so 32x32 → 30x30x16 (which is why its
 * branch classifiers read 28800 = 30·30·32 and 14400 = 30·30·16 features).
 */
const STEM: LayerSpec[] = [{ type: 'conv2d', filters: 16, kernel: 3, padding: 'valid' }, { type: 'batchNorm' }, { type: 'relu' }];

/** Groups 2 and 3 plus the pooling: 30x30x16 → 15x15x32 → 8x8x64 → avgPool 6/1 → 3x3x64 = 576 features. */
function tail(n: number): LayerSpec[] {
  return [...group(32, n, 2), ...group(64, n, 2), { type: 'avgPool', size: 6, stride: 1 }, { type: 'flatten' }];
}

const depthName = (n: number) => `resnet${6 * n + 2}`;

function notes(n: number): string[] {
  return [
    `Layer sizes follow the reference Chainer code (kunglab/branchynet, networks/resnet_cifar10.py, the version with the conv 5x5→64 branch) with n = ${n} blocks per group: stem conv 3x3 without padding (32→30), groups at 30x30x16, 15x15x32 and 8x8x64.`,
    'The reference ends with average_pooling_2d(6, 1) on the 8x8 map (3x3x64 = 576 features into the classifier), not a global average pool; kept as is.',
    'Branch 1 has no pooling in the reference, so its classifier reads all 30·30·32 = 28800 features (288k weights per 10 classes); kept as is. Branch 2 is one more 16-filter residual block and a classifier on 30·30·16 = 14400 features.',
    "LRN is Chainer's local_response_normalization(n=3, k=2 default, alpha=5e-5, beta=0.75), alpha on the plain sum: lrn {depthRadius: 1, bias: 2, alpha: 5e-5, beta: 0.75}.",
    "Residual shortcut differs: when a block changes shape the reference zero-pads the new channels and subsamples with average_pooling_2d(1, 2) (ResNet option A, no weights); ours uses a 1x1 convolution with the block's stride plus batch norm (option B). Identity shortcuts are the same.",
    "Residual convolutions: the reference's have biases (Chainer's default) in front of batch norm, where they cancel out; ours have none. Stride-2 convolutions on the 30x30 map pad 'same' here (0 before, 1 after) where Chainer pads 1 on both sides; output sizes are equal, the sampling grid is shifted by one pixel.",
    "The reference initialises convolutions with wscale √2 (He); our engine's default (LeCun normal) is used here. An older version of the reference put one extra residual block before branch 1 and a branch of relu, LRN, two 3x3→32 convolutions, max pool and two dense layers; not followed.",
    'Tensors are NHWC, so flatten orders features height, width, channel (Chainer: channel first); this changes weight layout only, not the function class.',
  ];
}

/** The last dense layer of a head gets one unit per class. */
function withClasses(layers: LayerSpec[], classes: number): LayerSpec[] {
  return layers.map((l, i) => (i === layers.length - 1 && l.type === 'dense' ? { ...l, units: classes } : l));
}

/**
 * B-ResNet for CIFAR-10, as in the BranchyNet paper: a CIFAR ResNet (`6n + 2` layers; n = 18 gives ResNet-110)
 * with an early exit after the stem convolution and one after the first group of residual blocks.
 */
export function bResnet(options: ResnetOptions = {}): NetworkSpec {
  const n = blocks(options);
  const classes = options.classes ?? [...CIFAR10_CLASSES];
  const k = classes.length;
  return {
    format: 'branchy/1',
    name: `b-${depthName(n)}`,
    description: `B-ResNet-${6 * n + 2} (BranchyNet, CIFAR-10): ResNet-${6 * n + 2} with early exits after the stem and after the first residual group.`,
    input: zooInput([32, 32, 3], options),
    classes,
    stages: [
      { name: 'stem', layers: STEM },
      { name: 'group 1', layers: group(16, n, 1) },
      { name: 'groups 2-3', layers: tail(n) },
    ],
    exits: [
      {
        name: 'branch 1',
        layers: withClasses(
          [
            { type: 'conv2d', filters: 64, kernel: 5, padding: 2 },
            { type: 'relu' },
            LRN,
            conv3(32),
            { type: 'relu' },
            conv3(32),
            { type: 'relu' },
            { type: 'flatten' },
            { type: 'dense', units: 10 },
          ],
          k,
        ),
      },
      { name: 'branch 2', layers: withClasses([{ type: 'residual', filters: 16 }, { type: 'flatten' }, { type: 'dense', units: 10 }], k) },
      { name: 'final', layers: withClasses([{ type: 'dense', units: 10 }], k) },
    ],
    // Placeholder thresholds: the right values depend on the trained weights; `branchy calibrate` picks them.
    policy: { criterion: 'entropy', thresholds: [0.05, 0.05] },
    notes: notes(n),
  };
}

/**
 * The CIFAR ResNet baseline: B-ResNet's trunk and final classifier with no early exit, in the same layer order,
 * so a trained ResNet can initialise the B-ResNet of the same depth (`--init-from`).
 */
export function resnet(options: ResnetOptions = {}): NetworkSpec {
  const n = blocks(options);
  const classes = options.classes ?? [...CIFAR10_CLASSES];
  return {
    format: 'branchy/1',
    name: depthName(n),
    description: `ResNet-${6 * n + 2} (BranchyNet baseline, CIFAR-10): the B-ResNet-${6 * n + 2} trunk without early exits.`,
    input: zooInput([32, 32, 3], options),
    classes,
    stages: [{ name: 'trunk', layers: [...STEM, ...group(16, n, 1), ...tail(n)] }],
    exits: [{ name: 'final', layers: withClasses([{ type: 'dense', units: 10 }], classes.length) }],
    policy: { criterion: 'entropy', thresholds: [] },
    notes: notes(n),
  };
}

/** B-ResNet-110, the paper's network (18 blocks per group). */
export const bResnet110 = (options: ZooOptions = {}): NetworkSpec => bResnet({ ...options, blocksPerGroup: RESNET110_BLOCKS });

/** ResNet-110, B-ResNet-110's baseline. */
export const resnet110 = (options: ZooOptions = {}): NetworkSpec => resnet({ ...options, blocksPerGroup: RESNET110_BLOCKS });

/** B-ResNet-20 (3 blocks per group): the same layout, short enough for tests and quick runs. */
export const bResnet20 = (options: ZooOptions = {}): NetworkSpec => bResnet({ ...options, blocksPerGroup: RESNET20_BLOCKS });

/** ResNet-20, B-ResNet-20's baseline. */
export const resnet20 = (options: ZooOptions = {}): NetworkSpec => resnet({ ...options, blocksPerGroup: RESNET20_BLOCKS });
