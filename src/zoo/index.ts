import { BranchyArgumentError } from '../common/errors.ts';
import type { NetworkSpec } from '../spec/types.ts';
import { bLenet, lenet, type LenetOptions } from './lenet.ts';

/** A network the zoo can build by name. */
export interface ZooEntry {
  name: string;
  description: string;
  /** The no-exit network it is compared with, if any. */
  baseline?: string;
  build(options?: LenetOptions): NetworkSpec;
}

const ZOO = new Map<string, ZooEntry>();

/** Adds a network to the zoo. */
export function registerZooModel(entry: ZooEntry): void {
  ZOO.set(entry.name, entry);
}

registerZooModel({ name: 'b-lenet', description: 'B-LeNet for MNIST (1 early exit), as in the BranchyNet paper', baseline: 'lenet', build: bLenet });
registerZooModel({ name: 'lenet', description: 'LeNet for MNIST, the B-LeNet trunk without early exits', build: lenet });

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

export { bLenet, lenet };
