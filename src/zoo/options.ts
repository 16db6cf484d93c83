import type { Normalization } from '../spec/types.ts';

/** Options every zoo network accepts. */
export interface ZooOptions {
  /** Class names; default the dataset's own (digits for MNIST, the ten CIFAR-10 names for CIFAR-10). */
  classes?: string[];
  /** Input normalisation stored in the spec. */
  normalization?: Normalization;
}

/** The CIFAR-10 class names, in the dataset's label order. */
export { CIFAR10_CLASSES } from '../data/classes.ts';

/** The spec's `input` for a given shape, with the normalisation only when one is given (so specs stay minimal). */
export function zooInput(shape: [number, number, number], options: ZooOptions): { shape: [number, number, number]; normalization?: Normalization } {
  return { shape, ...(options.normalization ? { normalization: options.normalization } : {}) };
}
