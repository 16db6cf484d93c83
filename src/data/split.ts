import { BranchyArgumentError, BranchyDataError } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';
import { subset, type Dataset } from './dataset.ts';

/** How many samples each part of a split receives; the sum may be less than the data set (the rest is unused). */
export interface SplitSizes {
  train: number;
  validation: number;
  test: number;
}

/**
 * Splits a data set into disjoint train / validation / test parts by a seeded permutation: part sizes are
 * exact, and the same seed on the same input gives the same parts on every run and platform (the permutation
 * comes from the project's own {@link Rng}, never `Math.random`). Not stratified; with thousands of samples
 * per part the class balance is close to the source's. Each part keeps the shuffled order.
 *
 * @throws BranchyArgumentError `DATA_SPLIT_BAD_SIZE` when a size is not a non-negative integer.
 * @throws BranchyDataError `DATA_SPLIT_TOO_LARGE` when the sizes add up to more than `ds.count`.
 */
export function splitDataset(ds: Dataset, sizes: SplitSizes, seed: number): { train: Dataset; validation: Dataset; test: Dataset } {
  for (const part of ['train', 'validation', 'test'] as const) {
    const n = sizes[part];
    if (!Number.isInteger(n) || n < 0) {
      throw new BranchyArgumentError('DATA_SPLIT_BAD_SIZE', `splitDataset: sizes.${part} = ${n} is invalid: expected a non-negative integer.`);
    }
  }
  const total = sizes.train + sizes.validation + sizes.test;
  if (total > ds.count) {
    throw new BranchyDataError(
      'DATA_SPLIT_TOO_LARGE',
      `splitDataset: train ${sizes.train} + validation ${sizes.validation} + test ${sizes.test} = ${total} ` +
        `samples requested, but the data set has only ${ds.count}.`,
    );
  }
  const perm = new Rng(seed).permutation(ds.count);
  const a = sizes.train;
  const b = a + sizes.validation;
  return {
    train: subset(ds, perm.subarray(0, a)),
    validation: subset(ds, perm.subarray(a, b)),
    test: subset(ds, perm.subarray(b, total)),
  };
}
