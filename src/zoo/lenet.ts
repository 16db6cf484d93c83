import { DIGIT_CLASSES } from '../data/classes.ts';
import type { LayerSpec, NetworkSpec } from '../spec/types.ts';

/** The B-LeNet trunk's first convolution: the cut point of its early exit. */
const FIRST_CONV: LayerSpec[] = [{ type: 'conv2d', filters: 5, kernel: 5, padding: 3 }];

/** The rest of the trunk up to the 84-unit feature layer; pools round up, as Chainer's `cover_all` does. */
const TRUNK_REST: LayerSpec[] = [
  { type: 'maxPool', size: 2, padding: 'ceil' },
  { type: 'relu' },
  { type: 'conv2d', filters: 10, kernel: 5, padding: 3 },
  { type: 'maxPool', size: 2, padding: 'ceil' },
  { type: 'relu' },
  { type: 'conv2d', filters: 20, kernel: 5, padding: 3 },
  { type: 'maxPool', size: 2, padding: 'ceil' },
  { type: 'relu' },
  { type: 'flatten' },
  { type: 'dense', units: 84 },
];

const CLASSIFIER: LayerSpec[] = [{ type: 'dense', units: 10 }];

const NOTES = [
  'Layer sizes follow the reference Chainer code (kunglab/branchynet, networks/lenet_mnist.py): feature maps 30→15→17→9→11→6, fc inputs 640 (branch) and 720 (trunk).',
  'Tensors are NHWC, so flatten orders features height, width, channel (Chainer: channel first); this changes weight layout only, not the function class.',
];

/** Options shared by the LeNet family. */
export interface LenetOptions {
  /** Class names; default the ten digits. */
  classes?: string[];
  /** Input normalisation stored in the spec. */
  normalization?: { mean: number[]; std: number[] };
}

/**
 * B-LeNet, the paper's MNIST network: LeNet with one early exit after the first convolution
 * (maxpool 2 → relu → conv 3x3→10 → maxpool 2 → relu → fc 10).
 */
export function bLenet(options: LenetOptions = {}): NetworkSpec {
  return {
    format: 'branchy/1',
    name: 'b-lenet',
    description: 'B-LeNet (BranchyNet, MNIST): LeNet with one early exit after the first convolution.',
    input: { shape: [28, 28, 1], ...(options.normalization ? { normalization: options.normalization } : {}) },
    classes: options.classes ?? [...DIGIT_CLASSES],
    stages: [
      { name: 'conv1', layers: FIRST_CONV },
      { name: 'trunk', layers: TRUNK_REST },
    ],
    exits: [
      {
        name: 'branch',
        layers: [
          { type: 'maxPool', size: 2, padding: 'ceil' },
          { type: 'relu' },
          { type: 'conv2d', filters: 10, kernel: 3, padding: 1 },
          { type: 'maxPool', size: 2, padding: 'ceil' },
          { type: 'relu' },
          { type: 'flatten' },
          { type: 'dense', units: 10 },
        ],
      },
      { name: 'final', layers: CLASSIFIER },
    ],
    policy: { criterion: 'entropy', thresholds: [0.025] },
    notes: NOTES,
  };
}

/**
 * LeNet, the baseline: B-LeNet's trunk and final classifier with no early exit. Its trunk layers are B-LeNet's
 * in the same order, so a trained LeNet can initialise a B-LeNet (`--init-from`). It is one stage, and names
 * B-LeNet's stage boundary (after the first convolution) as a branch point, so `add-exits --at 1` branches a
 * trained LeNet where the paper put B-LeNet's exit.
 */
export function lenet(options: LenetOptions = {}): NetworkSpec {
  return {
    format: 'branchy/1',
    name: 'lenet',
    description: 'LeNet (BranchyNet baseline, MNIST): the B-LeNet trunk without early exits.',
    input: { shape: [28, 28, 1], ...(options.normalization ? { normalization: options.normalization } : {}) },
    classes: options.classes ?? [...DIGIT_CLASSES],
    stages: [{ name: 'trunk', layers: [...FIRST_CONV, ...TRUNK_REST] }],
    branchPoints: [FIRST_CONV.length],
    exits: [{ name: 'final', layers: CLASSIFIER }],
    policy: { criterion: 'entropy', thresholds: [] },
    notes: NOTES,
  };
}
