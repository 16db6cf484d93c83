import type { LayerSpec, LrnLayer, NetworkSpec } from '../spec/types.ts';
import { CIFAR10_CLASSES, zooInput, type ZooOptions } from './options.ts';

/**
 * Chainer's `F.local_response_normalization(x, n=3, alpha=5e-05, beta=0.75)` with its default `k=2`. Chainer
 * computes `x / (k + alpha · Σ x²)^beta` over a window of `n` channels with `alpha` on the plain sum (no division
 * by `n`), which is exactly our TF-style `lrn`, so the numbers carry over unchanged: window 3 = radius 1.
 */
const LRN: LrnLayer = { type: 'lrn', depthRadius: 1, bias: 2, alpha: 5e-5, beta: 0.75 };

/** Chainer's `max_pooling_2d(x, 3, 2)`: `cover_all=True` rounds the output size up, i.e. our `'ceil'`. */
const POOL: LayerSpec = { type: 'maxPool', size: 3, stride: 2, padding: 'ceil' };

/** Chainer's `norm()` helper, which opens both branches and follows the first two trunk convolutions. */
const NORM: LayerSpec[] = [{ type: 'relu' }, POOL, LRN];

const conv = (filters: number, kernel: number): LayerSpec => ({ type: 'conv2d', filters, kernel, padding: (kernel - 1) / 2 });

/** Stage 1: up to and including conv 5x5→64, where branch 1 attaches. Output 16x16x64. */
const STAGE1: LayerSpec[] = [conv(32, 5), ...NORM, conv(64, 5)];

/** Stage 2: up to and including conv 3x3→96, where branch 2 attaches. Output 8x8x96. */
const STAGE2: LayerSpec[] = [...NORM, conv(96, 3)];

/** Stage 3: the rest of the trunk up to the 128-unit feature layer. The pool leaves 4x4x64 = 1024 features. */
const STAGE3: LayerSpec[] = [
  { type: 'relu' },
  conv(96, 3),
  { type: 'relu' },
  conv(64, 3),
  { type: 'relu' },
  POOL,
  { type: 'flatten' },
  { type: 'dense', units: 256 },
  { type: 'relu' },
  { type: 'dropout', rate: 0.5 },
  { type: 'dense', units: 128 },
  { type: 'relu' },
  { type: 'dropout', rate: 0.5 },
];

/** Branch 1 (reference: `norm() + conv(64) + conv(32) + cap(512)`): 16x16x64 → 8x8 → 4x4x32 = 512 → 10. */
const BRANCH1: LayerSpec[] = [...NORM, conv(32, 3), { type: 'relu' }, conv(32, 3), { type: 'relu' }, POOL, { type: 'flatten' }, { type: 'dense', units: 10 }];

/** Branch 2 (reference: `norm() + conv(96) + cap(128)`): 8x8x96 → 4x4 → 2x2x32 = 128 → 10. */
const BRANCH2: LayerSpec[] = [...NORM, conv(32, 3), { type: 'relu' }, POOL, { type: 'flatten' }, { type: 'dense', units: 10 }];

/** The trunk's own classifier. */
const CLASSIFIER: LayerSpec[] = [{ type: 'dense', units: 10 }];

const NOTES = [
  'Layer sizes follow the reference Chainer code (kunglab/branchynet, networks/alex_cifar10.py): trunk feature maps 32→16 (conv1, pool) →8 (conv2, pool) →4 (pool after conv5), fc inputs 1024 (trunk), 512 (branch 1) and 128 (branch 2).',
  "Pools are Chainer's max_pooling_2d(3, 2) with cover_all=True, i.e. padding 'ceil'.",
  "LRN is Chainer's local_response_normalization(n=3, k=2 default, alpha=5e-5, beta=0.75); Chainer multiplies the plain sum of squares by alpha (no division by n), so it maps one to one onto lrn {depthRadius: 1, bias: 2, alpha: 5e-5, beta: 0.75}.",
  'Tensors are NHWC, so flatten orders features height, width, channel (Chainer: channel first); this changes weight layout only, not the function class.',
  'Every exit ends in a dense layer with one unit per class: 10 as in the reference for CIFAR-10, more or fewer when other class names are given.',
];

/** The final-exit and branch heads end in `classes.length` units; the reference's 10 is CIFAR-10's class count. */
function withClasses(layers: LayerSpec[], classes: number): LayerSpec[] {
  return layers.map((l, i) => (i === layers.length - 1 && l.type === 'dense' ? { ...l, units: classes } : l));
}

/**
 * B-AlexNet, the paper's CIFAR-10 network: a small AlexNet with two early exits, after the second convolution
 * (branch 1) and after the third (branch 2).
 */
export function bAlexnet(options: ZooOptions = {}): NetworkSpec {
  const classes = options.classes ?? [...CIFAR10_CLASSES];
  return {
    format: 'branchy/1',
    name: 'b-alexnet',
    description: 'B-AlexNet (BranchyNet, CIFAR-10): AlexNet with early exits after the second and third convolutions.',
    input: zooInput([32, 32, 3], options),
    classes,
    stages: [
      { name: 'conv1-2', layers: STAGE1 },
      { name: 'conv3', layers: STAGE2 },
      { name: 'trunk', layers: STAGE3 },
    ],
    exits: [
      { name: 'branch 1', layers: withClasses(BRANCH1, classes.length) },
      { name: 'branch 2', layers: withClasses(BRANCH2, classes.length) },
      { name: 'final', layers: withClasses(CLASSIFIER, classes.length) },
    ],
    // Placeholder thresholds: the right values depend on the trained weights; `branchy calibrate` picks them.
    policy: { criterion: 'entropy', thresholds: [0.05, 0.05] },
    notes: NOTES,
  };
}

/**
 * AlexNet, the baseline: B-AlexNet's trunk and final classifier with no early exit. Its trunk layers are
 * B-AlexNet's in the same order, so a trained AlexNet can initialise a B-AlexNet (`--init-from`).
 */
export function alexnet(options: ZooOptions = {}): NetworkSpec {
  const classes = options.classes ?? [...CIFAR10_CLASSES];
  return {
    format: 'branchy/1',
    name: 'alexnet',
    description: 'AlexNet (BranchyNet baseline, CIFAR-10): the B-AlexNet trunk without early exits.',
    input: zooInput([32, 32, 3], options),
    classes,
    stages: [{ name: 'trunk', layers: [...STAGE1, ...STAGE2, ...STAGE3] }],
    exits: [{ name: 'final', layers: withClasses(CLASSIFIER, classes.length) }],
    policy: { criterion: 'entropy', thresholds: [] },
    notes: NOTES,
  };
}
