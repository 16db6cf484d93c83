import { BranchyArgumentError, BranchyDataError } from '../common/errors.ts';

/**
 * A labelled image data set held in memory. Every loader in `data/` returns this shape, so training,
 * calibration and evaluation never need to know where the samples came from.
 */
export interface Dataset {
  /** Samples, row-major NHWC, values as the source gives them (MNIST: [0,1]). */
  readonly x: Float32Array;
  /** Class index per sample. */
  readonly y: Uint8Array;
  /** Per-sample shape [height, width, channels]. */
  readonly shape: readonly [number, number, number];
  /** Number of samples; `x.length === count * height * width * channels` and `y.length === count`. */
  readonly count: number;
  /** Class names, indexed by the values in `y`. */
  readonly classes: readonly string[];
  /**
   * The source numbers its classes without naming them (IDX files hold label numbers only; `idx:DIR`): `classes`
   * are then the label numbers as text, and a model is matched against their count, not their names.
   */
  readonly unnamedClasses?: boolean;
}

/** The three disjoint parts a model is trained, calibrated (exit thresholds) and finally evaluated on. */
export interface DatasetSplits {
  /** Samples the weights are fitted on. */
  train: Dataset;
  /** Held-out samples for early stopping and for choosing exit thresholds. */
  validation: Dataset;
  /** Samples touched only for the final report. */
  test: Dataset;
  /** Human-readable description of where the data came from and how it was split, recorded with a model. */
  source: string;
}

/** One mini-batch produced by {@link batches}. */
export interface MiniBatch {
  /** `size` samples, NHWC, copied out of the data set (the caller may keep or mutate them). */
  x: Float32Array;
  /** Class index per sample in the batch. */
  y: Uint8Array;
  /** Number of samples in this batch; only the last batch may be smaller than the requested size. */
  size: number;
  /** Index into the data set of each sample in the batch, in batch order. */
  indices: Uint32Array;
}

/** Number of floats in one sample: height × width × channels. */
export function sampleSize(ds: Pick<Dataset, 'shape'>): number {
  return ds.shape[0] * ds.shape[1] * ds.shape[2];
}

/**
 * Builds a {@link Dataset} after checking that its parts agree, so that a loader bug surfaces where the data
 * is made rather than as a shape error deep inside training.
 *
 * @throws BranchyDataError `DATA_BAD_SHAPE` when the shape is not three positive integers, `x` does not hold
 *   `y.length` samples of that shape, or a label is not a valid class index.
 */
export function createDataset(parts: { x: Float32Array; y: Uint8Array; shape: readonly [number, number, number]; classes: readonly string[] }): Dataset {
  const { x, y, shape, classes } = parts;
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new BranchyDataError('DATA_BAD_SHAPE', `Dataset shape [${shape.join(', ')}] is invalid: expected [height, width, channels] of positive integers.`);
  }
  const per = shape[0] * shape[1] * shape[2];
  if (x.length !== y.length * per) {
    throw new BranchyDataError(
      'DATA_BAD_SHAPE',
      `Dataset x has ${x.length} values but ${y.length} labels of shape [${shape.join(', ')}] need ` + `${y.length * per}.`,
    );
  }
  for (let i = 0; i < y.length; i++) {
    if (y[i] >= classes.length) {
      throw new BranchyDataError(
        'DATA_BAD_SHAPE',
        `Dataset label ${y[i]} at sample ${i} is not a class index: expected 0..${classes.length - 1} ` + `for ${classes.length} classes.`,
      );
    }
  }
  return { x, y, shape: [shape[0], shape[1], shape[2]], count: y.length, classes: [...classes] };
}

/** `what` is built only on failure: this check runs once per sample in the hot copy loops. */
function checkIndex(ds: Dataset, index: number, what: () => string): void {
  if (!Number.isInteger(index) || index < 0 || index >= ds.count) {
    throw new BranchyArgumentError('DATA_INDEX_OUT_OF_RANGE', `${what()} ${index} is not a sample index: expected an integer in 0..${ds.count - 1}.`);
  }
}

/**
 * A new data set holding the samples at `indices`, in that order (repeats allowed). The samples are copied,
 * so the result does not alias `ds`.
 *
 * @throws BranchyArgumentError `DATA_INDEX_OUT_OF_RANGE` for an index outside `0..count-1`.
 */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const per = sampleSize(ds);
  const n = indices.length;
  const x = new Float32Array(n * per);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    checkIndex(ds, j, () => `subset: indices[${i}] =`);
    x.set(ds.x.subarray(j * per, (j + 1) * per), i * per);
    y[i] = ds.y[j];
  }
  return { x, y, shape: ds.shape, count: n, classes: ds.classes, ...(ds.unnamedClasses ? { unnamedClasses: true } : {}) };
}

/**
 * Sample `i` as a view into `ds.x` (no copy): cheap for inference, but writing to it changes the data set;
 * call `.slice()` on the result for an independent copy.
 *
 * @throws BranchyArgumentError `DATA_INDEX_OUT_OF_RANGE` for an index outside `0..count-1`.
 */
export function sample(ds: Dataset, i: number): Float32Array {
  checkIndex(ds, i, () => 'sample: index');
  const per = sampleSize(ds);
  return ds.x.subarray(i * per, (i + 1) * per);
}

/**
 * Mini-batches over the data set, visiting the samples in `order` (default `0..count-1`); every entry of
 * `order` lands in exactly one batch, and only the last batch may be short. Each batch is freshly copied so
 * a consumer may hold on to it while iterating further. Pass `rng.permutation(ds.count)` for a shuffled epoch.
 *
 * @throws BranchyArgumentError `DATA_BAD_BATCH_SIZE` unless `batchSize` is a positive integer, and
 *   `DATA_INDEX_OUT_OF_RANGE` (when the batch is reached) for an order entry outside `0..count-1`.
 */
export function batches(ds: Dataset, batchSize: number, order?: Uint32Array): Iterable<MiniBatch> {
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new BranchyArgumentError('DATA_BAD_BATCH_SIZE', `batches: batchSize ${batchSize} is invalid: expected a positive integer.`);
  }
  const per = sampleSize(ds);
  const ord = order ?? identity(ds.count);
  // A generator keeps memory at one batch however large the data set; validation happens eagerly above so a
  // bad batch size fails at the call site, not at the first `for … of` step.
  return (function* (): Generator<MiniBatch> {
    for (let start = 0; start < ord.length; start += batchSize) {
      const size = Math.min(batchSize, ord.length - start);
      const indices = ord.slice(start, start + size);
      const x = new Float32Array(size * per);
      const y = new Uint8Array(size);
      for (let i = 0; i < size; i++) {
        const j = indices[i];
        checkIndex(ds, j, () => `batches: order[${start + i}] =`);
        x.set(ds.x.subarray(j * per, (j + 1) * per), i * per);
        y[i] = ds.y[j];
      }
      yield { x, y, size, indices };
    }
  })();
}

function identity(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}
