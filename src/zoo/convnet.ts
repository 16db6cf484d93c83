import { DIGIT_CLASSES } from '../data/classes.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { zooInput, type ZooOptions } from './options.ts';

/**
 * B-ConvNet: a wider and deeper network than B-LeNet for 28×28 grey images, with one early exit. Two 3×3
 * convolutions of 16 filters before the exit (features 15×15×16 at its cut, where B-LeNet has 30×30×5), then two
 * of 32 on pooled maps (8×8, 4×4) and a 128-unit layer: four convolutions where B-LeNet has three, at about
 * B-LeNet's cost. A front of another architecture than B-LeNet for a shared successor.
 */
export function bConvnet(options: ZooOptions = {}): NetworkSpec {
  return {
    format: 'branchy/1',
    name: 'b-convnet',
    description: 'B-ConvNet (28×28 grey images): two 3×3 conv blocks of 16 and 32 filters, one early exit after the first.',
    input: zooInput([28, 28, 1], options),
    classes: options.classes ?? [...DIGIT_CLASSES],
    stages: [
      {
        name: 'block1',
        layers: [
          { type: 'conv2d', filters: 16, kernel: 3, padding: 2 },
          { type: 'relu' },
          { type: 'maxPool', size: 2, padding: 'ceil' },
          { type: 'conv2d', filters: 16, kernel: 3, padding: 'same' },
          { type: 'relu' },
        ],
      },
      {
        name: 'block2',
        layers: [
          { type: 'maxPool', size: 2, padding: 'ceil' },
          { type: 'conv2d', filters: 32, kernel: 3, padding: 'same' },
          { type: 'relu' },
          { type: 'maxPool', size: 2, padding: 'ceil' },
          { type: 'conv2d', filters: 32, kernel: 3, padding: 'same' },
          { type: 'relu' },
          { type: 'flatten' },
          { type: 'dense', units: 128 },
          { type: 'relu' },
        ],
      },
    ],
    exits: [
      { name: 'branch', layers: [{ type: 'maxPool', size: 2, padding: 'ceil' }, { type: 'flatten' }, { type: 'dense', units: 10 }] },
      { name: 'final', layers: [{ type: 'dense', units: 10 }] },
    ],
    policy: { criterion: 'entropy', thresholds: [0.1] },
  };
}
