import { BranchyArgumentError } from '../common/errors.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { alexnet, bAlexnet } from './alexnet.ts';
import { bConvnet } from './convnet.ts';
import { bLenet, lenet } from './lenet.ts';
import type { ZooOptions } from './options.ts';
import { bResnet, bResnet110, bResnet20, resnet, resnet110, resnet20, RESNET110_BLOCKS, RESNET20_BLOCKS, type ResnetOptions } from './resnet.ts';

/** A network the zoo can build by name. */
export interface ZooEntry {
  name: string;
  description: string;
  /** The no-exit network it is compared with, if any. */
  baseline?: string;
  build(options?: ZooOptions): NetworkSpec;
}

const ZOO = new Map<string, ZooEntry>();

/** Adds a network to the zoo. */
export function registerZooModel(entry: ZooEntry): void {
  ZOO.set(entry.name, entry);
}

registerZooModel({ name: 'b-lenet', description: 'B-LeNet for MNIST (1 early exit), as in the BranchyNet paper', baseline: 'lenet', build: bLenet });
registerZooModel({ name: 'lenet', description: 'LeNet for MNIST, the B-LeNet trunk without early exits', build: lenet });
registerZooModel({
  name: 'b-convnet',
  description: 'B-ConvNet for 28×28 grey images (1 early exit): wider and deeper than B-LeNet at about its cost, 15×15×16 features at its exit',
  build: bConvnet,
});
registerZooModel({
  name: 'b-alexnet',
  description: 'B-AlexNet for CIFAR-10 (2 early exits), as in the BranchyNet paper',
  baseline: 'alexnet',
  build: bAlexnet,
});
registerZooModel({ name: 'alexnet', description: 'AlexNet for CIFAR-10, the B-AlexNet trunk without early exits', build: alexnet });
registerZooModel({
  name: 'b-resnet110',
  description: 'B-ResNet-110 for CIFAR-10 (2 early exits), as in the BranchyNet paper',
  baseline: 'resnet110',
  build: bResnet110,
});
registerZooModel({ name: 'resnet110', description: 'ResNet-110 for CIFAR-10, the B-ResNet-110 trunk without early exits', build: resnet110 });
registerZooModel({
  name: 'b-resnet20',
  description: 'B-ResNet-20 for CIFAR-10: B-ResNet-110 with 3 blocks per group, for quick runs',
  baseline: 'resnet20',
  build: bResnet20,
});
registerZooModel({ name: 'resnet20', description: 'ResNet-20 for CIFAR-10, the B-ResNet-20 trunk without early exits', build: resnet20 });

/** The zoo entry called `name`; an unknown name lists the known ones. */
export function zooModel(name: string): ZooEntry {
  const entry = ZOO.get(name);
  if (!entry) throw new BranchyArgumentError('ZOO_UNKNOWN_MODEL', `'model' is ${JSON.stringify(name)}; the zoo has ${[...ZOO.keys()].join(', ')}.`);
  return entry;
}

/** Every zoo entry. */
export function listZoo(): ZooEntry[] {
  return [...ZOO.values()];
}

export { bConvnet, bLenet, lenet, bAlexnet, alexnet, bResnet, resnet, bResnet110, resnet110, bResnet20, resnet20, RESNET110_BLOCKS, RESNET20_BLOCKS };
export { CIFAR10_CLASSES, type ZooOptions } from './options.ts';
export type { LenetOptions } from './lenet.ts';
export type { ResnetOptions };
