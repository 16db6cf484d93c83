import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BranchyArgumentError, BranchyDataError } from '../common/errors.ts';
import { DIGIT_CLASSES } from './classes.ts';
import type { Dataset, DatasetSplits } from './dataset.ts';
import { gunzipDataFile, MAX_INFLATED_BYTES } from './inflate.ts';
import { readDataFile } from './read-bytes.ts';
import { splitDataset } from './split.ts';

/** Element type of an IDX file, named after the format's description (type bytes 0x08…0x0E). */
export type IdxDtype = 'ubyte' | 'byte' | 'short' | 'int' | 'float' | 'double';

/** The typed array {@link parseIdx} returns for each {@link IdxDtype}. */
export type IdxArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: element type, dimensions (outermost first) and the values in row-major order. */
export interface IdxTensor {
  dtype: IdxDtype;
  dims: number[];
  data: IdxArray;
}

interface DtypeInfo {
  code: number;
  bytes: number;
  make: (n: number) => IdxArray;
  read: (view: DataView, offset: number) => number;
  write: (view: DataView, offset: number, value: number) => void;
  /** Integer range for writeIdx's check; undefined for floating types. */
  range?: readonly [number, number];
}

const DTYPES: Record<IdxDtype, DtypeInfo> = {
  ubyte: {
    code: 0x08,
    bytes: 1,
    make: (n) => new Uint8Array(n),
    read: (v, o) => v.getUint8(o),
    write: (v, o, x) => v.setUint8(o, x),
    range: [0, 255],
  },
  byte: {
    code: 0x09,
    bytes: 1,
    make: (n) => new Int8Array(n),
    read: (v, o) => v.getInt8(o),
    write: (v, o, x) => v.setInt8(o, x),
    range: [-128, 127],
  },
  short: {
    code: 0x0b,
    bytes: 2,
    make: (n) => new Int16Array(n),
    read: (v, o) => v.getInt16(o, false),
    write: (v, o, x) => v.setInt16(o, x, false),
    range: [-32768, 32767],
  },
  int: {
    code: 0x0c,
    bytes: 4,
    make: (n) => new Int32Array(n),
    read: (v, o) => v.getInt32(o, false),
    write: (v, o, x) => v.setInt32(o, x, false),
    range: [-2147483648, 2147483647],
  },
  float: {
    code: 0x0d,
    bytes: 4,
    make: (n) => new Float32Array(n),
    read: (v, o) => v.getFloat32(o, false),
    write: (v, o, x) => v.setFloat32(o, x, false),
  },
  double: {
    code: 0x0e,
    bytes: 8,
    make: (n) => new Float64Array(n),
    read: (v, o) => v.getFloat64(o, false),
    write: (v, o, x) => v.setFloat64(o, x, false),
  },
};

const DTYPE_BY_CODE = new Map<number, IdxDtype>((Object.keys(DTYPES) as IdxDtype[]).map((name) => [DTYPES[name].code, name]));

function hex(bytes: Uint8Array, n: number): string {
  const shown = Array.from(bytes.subarray(0, n), (b) => `0x${b.toString(16).padStart(2, '0')}`);
  return shown.length > 0 ? shown.join(' ') : '(empty file)';
}

/** True when the bytes start with the gzip magic 0x1f 0x8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** True when the bytes start like an IDX file: 0x00 0x00, a known type byte, and at least the 4-byte magic. */
export function isIdx(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && DTYPE_BY_CODE.has(bytes[2]);
}

/** Options of {@link parseIdx}. */
export interface ParseIdxOptions {
  /** Most bytes a gzipped file may inflate to; default `MAX_INFLATED_BYTES` (1 GiB). */
  maxInflatedBytes?: number;
}

/**
 * Decodes an IDX file (the format of the MNIST / Fashion-MNIST distributions): magic `0x00 0x00 <type>
 * <ndim>`, `ndim` big-endian uint32 dimensions, then the values, big-endian. Gzipped input (as downloaded,
 * `*.gz`) is recognised by its magic and inflated first. The returned data is a fresh array that does not
 * alias `bytes`. `name` (usually the file path) is quoted in every error. Nothing is allocated for the values
 * before the file is known to hold them all.
 *
 * @throws BranchyDataError `DATA_IDX_BAD_GZIP` for a corrupt gzip stream, `DATA_INFLATE_TOO_LARGE` for one that
 *   inflates past `maxInflatedBytes`, `DATA_IDX_BAD_MAGIC` when the first bytes are not an IDX magic,
 *   `DATA_IDX_TRUNCATED` when the file is shorter than its header promises, and `DATA_IDX_TRAILING_BYTES` when it
 *   is longer (a sign the dimensions are wrong).
 */
export function parseIdx(bytes: Uint8Array, name: string, options: ParseIdxOptions = {}): IdxTensor {
  const raw = isGzip(bytes) ? gunzipDataFile(bytes, name, 'DATA_IDX_BAD_GZIP', 'a complete gzip file', options.maxInflatedBytes ?? MAX_INFLATED_BYTES) : bytes;
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0 || !DTYPE_BY_CODE.has(raw[2])) {
    throw new BranchyDataError(
      'DATA_IDX_BAD_MAGIC',
      `${name}: first bytes are ${hex(raw, 4)}: expected an IDX magic 0x00 0x00 <type> <ndim> with type ` +
        `0x08 (ubyte), 0x09 (byte), 0x0b (short), 0x0c (int), 0x0d (float) or 0x0e (double).`,
    );
  }
  const dtype = DTYPE_BY_CODE.get(raw[2]) as IdxDtype;
  const info = DTYPES[dtype];
  const ndim = raw[3];
  const header = 4 + 4 * ndim;
  if (raw.length < header) {
    throw new BranchyDataError('DATA_IDX_TRUNCATED', `${name}: ${raw.length} bytes, but the header of a ${ndim}-dimensional IDX file needs ${header} bytes.`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  // Enough huge dims overflow the product to Infinity, and Infinity × 0 is NaN, which no length check catches.
  if (dims.includes(0)) count = 0;
  const expected = header + count * info.bytes;
  if (raw.length < expected) {
    throw new BranchyDataError(
      'DATA_IDX_TRUNCATED',
      `${name}: ${raw.length} bytes, but a ${dtype} IDX file of dims [${dims.join(', ')}] needs ` +
        `${expected} bytes (${header} header + ${count} × ${info.bytes}).`,
    );
  }
  if (raw.length > expected) {
    throw new BranchyDataError(
      'DATA_IDX_TRAILING_BYTES',
      `${name}: ${raw.length} bytes, but a ${dtype} IDX file of dims [${dims.join(', ')}] has exactly ` +
        `${expected} bytes; ${raw.length - expected} extra bytes follow the data.`,
    );
  }
  let data: IdxArray;
  if (info.bytes === 1) {
    // Single bytes have no endianness: copy straight out of the buffer. The Uint8Array constructor always
    // copies into a fresh, exactly sized buffer; a Node Buffer's slice() would instead return a view into
    // (possibly pooled) memory.
    const bytesOut = new Uint8Array(raw.subarray(header, expected));
    data = dtype === 'ubyte' ? bytesOut : new Int8Array(bytesOut.buffer, bytesOut.byteOffset, count);
  } else {
    data = info.make(count);
    for (let i = 0, o = header; i < count; i++, o += info.bytes) data[i] = info.read(view, o);
  }
  return { dtype, dims, data };
}

/**
 * Encodes values as an IDX file (uncompressed; gzip it yourself if wanted), the inverse of {@link parseIdx}.
 * Useful to save network inputs, e.g. for `branchy predict --input digit.idx`: write float images as
 * `'float'` (values kept as is) or bytes as `'ubyte'` (0..255, read back scaled to [0,1] by the loaders).
 *
 * @throws BranchyArgumentError `DATA_IDX_BAD_DIMS` when dims are not 0..255 non-negative uint32 values whose
 *   product is `data.length`, and `DATA_IDX_BAD_VALUE` when an integer dtype gets a non-integer or
 *   out-of-range value (rather than silently wrapping it).
 */
export function writeIdx(data: ArrayLike<number>, dims: readonly number[], dtype: IdxDtype): Uint8Array {
  const info = DTYPES[dtype];
  if (info === undefined) {
    throw new BranchyArgumentError('DATA_IDX_BAD_DTYPE', `writeIdx: dtype '${String(dtype)}' is unknown: expected one of ${Object.keys(DTYPES).join(', ')}.`);
  }
  if (dims.length > 255 || !dims.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffffffff)) {
    throw new BranchyArgumentError('DATA_IDX_BAD_DIMS', `writeIdx: dims [${dims.join(', ')}] are invalid: expected at most 255 unsigned 32-bit integers.`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new BranchyArgumentError('DATA_IDX_BAD_DIMS', `writeIdx: dims [${dims.join(', ')}] hold ${count} values but data has ${data.length}.`);
  }
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * info.bytes);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0, o = header; i < count; i++, o += info.bytes) {
    const v = data[i];
    if (info.range !== undefined && !(Number.isInteger(v) && v >= info.range[0] && v <= info.range[1])) {
      throw new BranchyArgumentError(
        'DATA_IDX_BAD_VALUE',
        `writeIdx: data[${i}] = ${v} does not fit dtype '${dtype}': expected an integer in ` + `${info.range[0]}..${info.range[1]}.`,
      );
    }
    info.write(view, o, v);
  }
  return out;
}

/**
 * IDX values as network input floats: `ubyte` pixels are scaled to [0,1] (÷255, the MNIST convention),
 * `float` / `double` values are kept as they are (a float tensor's own `data` is returned, not a copy). Other
 * integer types have no agreed pixel scale and are rejected rather than guessed.
 *
 * @throws BranchyDataError `DATA_IDX_BAD_DTYPE` for byte, short or int data.
 */
export function idxToFloat32(tensor: IdxTensor, name: string): Float32Array {
  switch (tensor.dtype) {
    case 'ubyte': {
      const out = new Float32Array(tensor.data.length);
      for (let i = 0; i < out.length; i++) out[i] = tensor.data[i] / 255;
      return out;
    }
    case 'float':
      return tensor.data as Float32Array;
    case 'double':
      return Float32Array.from(tensor.data);
    default:
      throw new BranchyDataError('DATA_IDX_BAD_DTYPE', `${name}: IDX values are '${tensor.dtype}': expected 'ubyte' (pixels 0..255), 'float' or 'double'.`);
  }
}

/** Which of the two files of an MNIST-style distribution to load. */
export type IdxSplit = 'train' | 'test';

/** Options of {@link loadIdxDataset}. */
export interface IdxLoadOptions {
  /** `'train'` reads `train-*`, `'test'` reads `t10k-*`. */
  split: IdxSplit;
  /**
   * Class names by label. Use {@link FASHION_MNIST_CLASSES} for Fashion-MNIST. Without them the classes are unnamed:
   * labels 0..9, named '0'..'9' and marked `unnamedClasses` (a model is then matched on their count only).
   */
  classes?: readonly string[];
}

/** The file names tried for one IDX file, in preference order: raw before gzip (no inflate), dash before dot. */
export function idxFileCandidates(split: IdxSplit, kind: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const suffix = kind === 'images' ? 'idx3-ubyte' : 'idx1-ubyte';
  const bases = [`${prefix}-${kind}-${suffix}`, `${prefix}-${kind}.${suffix}`];
  return [...bases, ...bases.map((b) => `${b}.gz`)];
}

function findIdxFile(dir: string, split: IdxSplit, kind: 'images' | 'labels'): string {
  const candidates = idxFileCandidates(split, kind);
  for (const name of candidates) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new BranchyDataError('DATA_NOT_FOUND', `No ${split} ${kind} file in '${dir}': looked for ${candidates.join(', ')}.`);
}

function readIdxFile(path: string): IdxTensor {
  const bytes = readDataFile(path);
  return parseIdx(bytes, path);
}

/**
 * Loads one split of an MNIST-style IDX distribution (MNIST, Fashion-MNIST, KMNIST…) from `dir`: the images
 * file (`[n, h, w]` → channels 1, or `[n, h, w, c]`) and the labels file (`[n]`), each raw or `.gz`. Ubyte
 * pixels are scaled to [0,1]; float files are kept as they are.
 *
 * @throws BranchyDataError `DATA_NOT_FOUND` listing the names tried; the {@link parseIdx} codes; and, naming
 *   the file, `DATA_IDX_BAD_SHAPE` for wrong dimensions, `DATA_IDX_BAD_DTYPE` for non-pixel types,
 *   `DATA_IDX_COUNT_MISMATCH` when image and label counts differ, `DATA_IDX_BAD_LABEL` for a label with no
 *   class name.
 */
export function loadIdxDataset(dir: string, options: IdxLoadOptions): Dataset {
  const classes = options.classes ?? DIGIT_CLASSES;
  const unnamed = options.classes === undefined ? { unnamedClasses: true } : {};
  const imagesPath = findIdxFile(dir, options.split, 'images');
  const labelsPath = findIdxFile(dir, options.split, 'labels');
  const images = readIdxFile(imagesPath);
  const labels = readIdxFile(labelsPath);

  const dims = images.dims;
  if ((dims.length !== 3 && dims.length !== 4) || dims.slice(1).some((d) => d === 0)) {
    throw new BranchyDataError(
      'DATA_IDX_BAD_SHAPE',
      `${imagesPath}: images have dims [${dims.join(', ')}]: expected [count, height, width] or ` +
        `[count, height, width, channels] with non-zero image sizes.`,
    );
  }
  if (labels.dims.length !== 1 || (labels.dtype !== 'ubyte' && labels.dtype !== 'byte')) {
    throw new BranchyDataError(
      'DATA_IDX_BAD_SHAPE',
      `${labelsPath}: labels are '${labels.dtype}' with dims [${labels.dims.join(', ')}]: expected ` + `one-dimensional ubyte labels [count].`,
    );
  }
  if (dims[0] !== labels.dims[0]) {
    throw new BranchyDataError(
      'DATA_IDX_COUNT_MISMATCH',
      `${imagesPath} holds ${dims[0]} images but ${labelsPath} holds ${labels.dims[0]} labels: expected ` + `the same count.`,
    );
  }
  const y = new Uint8Array(labels.data.length);
  for (let i = 0; i < y.length; i++) {
    const label = labels.data[i];
    if (label < 0 || label >= classes.length) {
      throw new BranchyDataError(
        'DATA_IDX_BAD_LABEL',
        `${labelsPath}: label ${label} at index ${i} has no class name: expected 0..${classes.length - 1} ` + `for classes [${classes.join(', ')}].`,
      );
    }
    y[i] = label;
  }
  const x = idxToFloat32(images, imagesPath);
  return {
    x,
    y,
    shape: [dims[1], dims[2], dims.length === 4 ? dims[3] : 1],
    count: y.length,
    classes: [...classes],
    ...unnamed,
  };
}

/**
 * Train / validation / test splits of an MNIST-style IDX distribution in `dir`: the official test file
 * (`t10k-*`) is the test set untouched, and `validationSize` samples of the train file are held out by a
 * seeded permutation (same seed → same split). `source` reads e.g.
 * `"idx:/data/mnist, seed 1, validation 5000 of train"`. Without `classes` the classes are unnamed, as
 * {@link loadIdxDataset} reads them.
 *
 * @throws BranchyDataError as {@link loadIdxDataset}, and `DATA_SPLIT_TOO_LARGE` when `validationSize`
 *   exceeds the train file's count.
 */
export function idxSplits(dir: string, seed: number, validationSize = 5000, classes?: readonly string[]): DatasetSplits {
  const full = loadIdxDataset(dir, { split: 'train', classes });
  const test = loadIdxDataset(dir, { split: 'test', classes });
  const trainSize = Math.max(0, full.count - validationSize);
  const { train, validation } = splitDataset(full, { train: trainSize, validation: validationSize, test: 0 }, seed);
  return { train, validation, test, source: `idx:${dir}, seed ${seed}, validation ${validationSize} of train` };
}
