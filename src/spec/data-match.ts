/**
 * Whether a data set fits a network: the same per-sample input shape, and the same class names in the same order.
 * Every path that feeds labelled samples to a model (evaluation, calibration, training from a baseline or a
 * checkpoint, new exit heads, shared successors) runs this check first, so that a clothing classifier is never
 * scored, calibrated or retrained on digits without a word.
 *
 * @module
 */
import { BranchyDataError } from '../common/errors.ts';

/** What a network declares about the samples it takes (a `NetworkSpec` has these fields). */
export interface ModelInputFace {
  readonly name: string;
  readonly input: { readonly shape: readonly number[] };
  readonly classes: readonly string[];
}

/** What a labelled data set declares (a `Dataset` has these fields; `classes` may be absent on bare samples). */
export interface DataFace {
  /** Per-sample shape `[height, width, channels]`. */
  readonly shape: readonly number[];
  /** Class names, indexed by the labels. Samples without them are checked on their shape only. */
  readonly classes?: readonly string[];
  /**
   * The source numbers its classes without naming them (IDX files hold label numbers only): `classes` are then the
   * label numbers as text, and only their count is held against the network's.
   */
  readonly unnamedClasses?: boolean;
  /** Labels; read only when `allowClassMismatch` meets a data set that declares more classes than the network. */
  readonly y?: ArrayLike<number>;
}

/** Options of {@link checkDataMatchesModel}. */
export interface DataMatchOptions {
  /**
   * Accept class names that differ from the network's (label n is taken to mean the network's class n), for a user
   * who knows the labels agree. A different input shape is refused all the same, and so is a label the network has
   * no class for.
   */
  allowClassMismatch?: boolean;
  /** The data set's name or description, quoted in the error (e.g. a `DatasetSplits.source`). */
  data?: string;
}

/** How a data set differs from a network, or `undefined` when it fits. */
export interface DataMismatch {
  kind: 'shape' | 'classes';
  /** The difference in words, naming both sides. */
  detail: string;
}

/** Longest class list quoted in full; a longer one shows its first names, an ellipsis and its last name. */
const QUOTED_CLASSES = 6;

function quoteClasses(classes: readonly string[]): string {
  const q = (c: string) => JSON.stringify(c);
  const shown = classes.length <= QUOTED_CLASSES ? classes.map(q) : [...classes.slice(0, QUOTED_CLASSES - 2).map(q), '…', q(classes[classes.length - 1])];
  return `${classes.length} classes [${shown.join(', ')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The first place two class lists part, in words. */
function firstClassDifference(model: readonly string[], data: readonly string[]): string {
  const i = model.findIndex((c, k) => c !== data[k]);
  if (i === -1 || i >= data.length) return `the data has ${data.length} classes, the model ${model.length}`;
  const inData = data.indexOf(model[i]);
  const moved = inData === -1 ? `the data has no class ${JSON.stringify(model[i])}` : `the data has it as label ${inData}`;
  return `label ${i} is ${JSON.stringify(model[i])} in the model but ${JSON.stringify(data[i])} in the data (${moved})`;
}

/**
 * How `data` differs from what `model` takes, or `undefined` when it fits: first the per-sample shape, then (unless
 * `allowClassMismatch`) the class names and their order, or only their count when the data's classes are unnamed.
 * With `allowClassMismatch`, a data set declaring more classes than the network still fits only when none of its
 * labels reaches past the network's classes.
 */
export function dataModelMismatch(model: ModelInputFace, data: DataFace, options: Pick<DataMatchOptions, 'allowClassMismatch'> = {}): DataMismatch | undefined {
  const expected = model.input.shape;
  if (!sameShape(expected, data.shape)) {
    return { kind: 'shape', detail: `the model takes samples [${expected.join(', ')}]; the data's are [${data.shape.join(', ')}]` };
  }
  const classes = data.classes;
  if (classes === undefined) return undefined;
  const sameCount = classes.length === model.classes.length;
  if (data.unnamedClasses ? sameCount : sameCount && classes.every((c, i) => c === model.classes[i])) return undefined;
  const dataSide = data.unnamedClasses ? `${classes.length} unnamed classes (labels 0..${classes.length - 1})` : quoteClasses(classes);
  const both = `the model answers ${quoteClasses(model.classes)}; the data is labelled with ${dataSide}`;
  if (!options.allowClassMismatch) {
    const difference = data.unnamedClasses
      ? `the data has ${classes.length} classes, the model ${model.classes.length}`
      : firstClassDifference(model.classes, classes);
    return { kind: 'classes', detail: `${both}: ${difference}` };
  }
  if (classes.length <= model.classes.length || data.y === undefined) return undefined;
  const y = data.y;
  for (let i = 0; i < y.length; i++) {
    if (y[i] >= model.classes.length) {
      return {
        kind: 'classes',
        detail: `${both}: sample ${i} has label ${y[i]}${data.unnamedClasses ? '' : ` (${JSON.stringify(classes[y[i]])})`}, which the model has no class for (a class mismatch may be allowed, a label past the model's classes may not)`,
      };
    }
  }
  return undefined;
}

/**
 * Refuses data that does not fit a network (see {@link dataModelMismatch}) with an error quoting the network's
 * input shape and classes beside the data's.
 *
 * @throws BranchyDataError `DATA_MODEL_MISMATCH` when the per-sample shape differs, or the class names or their
 *   order differ and `allowClassMismatch` is not set.
 * @example
 * const splits = loadDataSource('mnist', 1);
 * checkDataMatchesModel(model.spec, splits.test, { data: splits.source });   // throws for a Fashion-MNIST model
 */
export function checkDataMatchesModel(model: ModelInputFace, data: DataFace, options: DataMatchOptions = {}): void {
  const mismatch = dataModelMismatch(model, data, options);
  if (mismatch === undefined) return;
  const what = options.data === undefined ? 'the data' : `data '${options.data}'`;
  throw new BranchyDataError('DATA_MODEL_MISMATCH', `${what} does not fit model '${model.name}': ${mismatch.detail}.`);
}

/** The three splits of one data set, as `DatasetSplits` holds them. */
export interface SplitFaces {
  readonly train: DataFace;
  readonly validation: DataFace;
  readonly test: DataFace;
  readonly source?: string;
}

/**
 * {@link checkDataMatchesModel} on each split of a data set, quoting `splits.source`.
 *
 * @throws BranchyDataError `DATA_MODEL_MISMATCH` as {@link checkDataMatchesModel}.
 */
export function checkSplitsMatchModel(model: ModelInputFace, splits: SplitFaces, options: Pick<DataMatchOptions, 'allowClassMismatch'> = {}): void {
  for (const part of [splits.train, splits.validation, splits.test]) checkDataMatchesModel(model, part, { ...options, data: splits.source });
}
