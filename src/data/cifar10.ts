import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BranchyDataError } from '../common/errors.ts';
import { CIFAR10_CLASSES } from './classes.ts';
import { createDataset, type Dataset, type DatasetSplits } from './dataset.ts';
import { isGzip, type ParseIdxOptions } from './idx.ts';
import { gunzipDataFile, MAX_INFLATED_BYTES } from './inflate.ts';
import { readDataFile } from './read-bytes.ts';
import { splitDataset } from './split.ts';

/** Image height and width of every CIFAR-10 sample. */
const SIDE = 32;
/** Pixels per channel plane (32 × 32). */
const PLANE = SIDE * SIDE;
/** Channels: red, green, blue. */
const CHANNELS = 3;

/** Bytes of one record in a CIFAR-10 binary batch: one label byte, then 3 × 1024 pixel bytes. */
export const CIFAR10_RECORD_BYTES = 1 + CHANNELS * PLANE;

/** The training batch files, concatenated in this order for the `'train'` split. */
export const CIFAR10_TRAIN_FILES: readonly string[] = Object.freeze([1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`));

/** The test batch file. */
export const CIFAR10_TEST_FILE = 'test_batch.bin';

/** The folder the official `cifar-10-binary.tar.gz` unpacks into; accepted inside the given directory too. */
const ARCHIVE_FOLDER = 'cifar-10-batches-bin';

/** Which part of the distribution {@link loadCifar10} reads. */
export type Cifar10Split = 'train' | 'test';

interface NamedBytes {
  bytes: Uint8Array;
  name: string;
}

/**
 * Inflates gzipped input. A gzip stream starts with 0x1f, which as a CIFAR label byte would be invalid (> 9),
 * so the magic can never be mistaken for a real record.
 */
function maybeGunzip(bytes: Uint8Array, name: string, maxInflatedBytes = MAX_INFLATED_BYTES): Uint8Array {
  return isGzip(bytes) ? gunzipDataFile(bytes, name, 'DATA_CIFAR_BAD_GZIP', 'a complete gzip file or a raw CIFAR-10 batch', maxInflatedBytes) : bytes;
}

/** How {@link parseCifar10Batch} reads a batch: as {@link ParseIdxOptions} (the most a gzipped batch may inflate to). */
export type ParseCifar10Options = ParseIdxOptions;

/** Checks the length and every label of one batch; returns its record count. */
function checkBatch(part: NamedBytes): number {
  const { bytes, name } = part;
  const remainder = bytes.length % CIFAR10_RECORD_BYTES;
  if (bytes.length === 0 || remainder !== 0) {
    // CIFAR-100's binary records carry two label bytes (3074 in all): say so, since the files look alike.
    const hint = bytes.length > 0 && bytes.length % (CIFAR10_RECORD_BYTES + 1) === 0 ? ' (the length is a multiple of 3074: is this a CIFAR-100 file?)' : '';
    throw new BranchyDataError(
      'DATA_CIFAR_TRUNCATED',
      bytes.length === 0
        ? `${name}: empty file: expected at least one ${CIFAR10_RECORD_BYTES}-byte record (1 label + 3072 pixels).`
        : `${name}: length ${bytes.length} bytes is not a multiple of the ${CIFAR10_RECORD_BYTES}-byte record ` +
            `(1 label + 3072 pixels): remainder ${remainder} bytes after ` +
            `${Math.floor(bytes.length / CIFAR10_RECORD_BYTES)} whole records${hint}.`,
    );
  }
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  for (let r = 0; r < count; r++) {
    const label = bytes[r * CIFAR10_RECORD_BYTES];
    if (label > 9) {
      throw new BranchyDataError(
        'DATA_CIFAR_BAD_LABEL',
        `${name}: record ${r} (byte offset ${r * CIFAR10_RECORD_BYTES}) has label byte ${label}: expected 0..9.`,
      );
    }
  }
  return count;
}

/**
 * Decodes validated batches into one data set. Everything is checked before the (large) float array is
 * allocated, and the batches are written straight into it, so the full train split (≈ 600 MB of floats) is
 * never held twice.
 */
function decodeBatches(parts: readonly NamedBytes[], classes: readonly string[]): Dataset {
  const counts = parts.map(checkBatch);
  const total = counts.reduce((a, b) => a + b, 0);
  const per = PLANE * CHANNELS;
  const x = new Float32Array(total * per);
  const y = new Uint8Array(total);
  let n = 0;
  parts.forEach(({ bytes }, b) => {
    for (let r = 0; r < counts[b]; r++, n++) {
      const rec = r * CIFAR10_RECORD_BYTES;
      y[n] = bytes[rec];
      const out = n * per;
      // Source planes are channel-major (all red, then green, then blue); NHWC interleaves them per pixel.
      for (let c = 0; c < CHANNELS; c++) {
        const src = rec + 1 + c * PLANE;
        for (let p = 0; p < PLANE; p++) x[out + p * CHANNELS + c] = bytes[src + p] / 255;
      }
    }
  });
  return createDataset({ x, y, shape: [SIDE, SIDE, CHANNELS], classes });
}

/**
 * Decodes one CIFAR-10 binary batch (`data_batch_N.bin` / `test_batch.bin`): a sequence of 3073-byte
 * records, each a label byte 0..9 followed by 1024 red, 1024 green and 1024 blue bytes (32 × 32, row-major).
 * The result is NHWC `[32, 32, 3]` with pixels scaled to [0,1] (÷255) and the {@link CIFAR10_CLASSES}.
 * Gzipped input is recognised by its magic and inflated first. `name` (usually the path) is quoted in errors.
 *
 * @throws BranchyDataError `DATA_CIFAR_TRUNCATED` when the length is zero or not a multiple of 3073 (quoting
 *   the length and the remainder), `DATA_CIFAR_BAD_LABEL` for a label byte above 9 (quoting the record index
 *   and value), `DATA_CIFAR_BAD_GZIP` for a corrupt gzip stream, `DATA_INFLATE_TOO_LARGE` for one that inflates
 *   past `maxInflatedBytes` (default `MAX_INFLATED_BYTES`, 1 GiB).
 */
export function parseCifar10Batch(bytes: Uint8Array, name: string, options: ParseCifar10Options = {}): Dataset {
  return decodeBatches([{ bytes: maybeGunzip(bytes, name, options.maxInflatedBytes), name }], CIFAR10_CLASSES);
}

/** The paths tried for one batch file, in preference order: directly in `dir`, then in its archive folder. */
function candidates(dir: string, file: string): string[] {
  const dirs = [dir, join(dir, ARCHIVE_FOLDER)];
  return dirs.flatMap((d) => [join(d, file), join(d, `${file}.gz`)]);
}

function findBatch(dir: string, file: string): string {
  const tried = candidates(dir, file);
  for (const p of tried) if (existsSync(p)) return p;
  throw new BranchyDataError('DATA_NOT_FOUND', `No CIFAR-10 batch '${file}' in '${dir}': looked for ${tried.join(', ')}.`);
}

function readBatch(path: string): NamedBytes {
  const bytes = readDataFile(path);
  return { bytes: maybeGunzip(bytes, path), name: path };
}

/**
 * Class names from `batches.meta.txt` next to the batches, when it lists exactly ten non-empty names (one per
 * line; blank lines, such as the trailing ones of the official file, are ignored). Anything else falls back
 * to {@link CIFAR10_CLASSES}: the file is optional, and a mangled copy should not stop training.
 */
function readClassNames(batchDir: string): readonly string[] {
  const path = join(batchDir, 'batches.meta.txt');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return CIFAR10_CLASSES;
  }
  const names = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  return names.length === CIFAR10_CLASSES.length && new Set(names).size === names.length ? names : CIFAR10_CLASSES;
}

/**
 * Loads one split of the CIFAR-10 binary distribution from `dir` (or from `dir/cifar-10-batches-bin/`, as the
 * official archive unpacks): `'train'` is `data_batch_1.bin` … `data_batch_5.bin` concatenated in order,
 * `'test'` is `test_batch.bin`. Each file may also be gzipped (`.bin.gz`). Class names come from
 * `batches.meta.txt` beside the batches when present and well-formed, else {@link CIFAR10_CLASSES}.
 *
 * @throws BranchyDataError `DATA_NOT_FOUND` listing the paths looked for, and the {@link parseCifar10Batch}
 *   codes naming the offending file.
 */
export function loadCifar10(dir: string, split: Cifar10Split): Dataset {
  const files = split === 'train' ? CIFAR10_TRAIN_FILES : [CIFAR10_TEST_FILE];
  // Locate every file before reading any, so a missing batch fails fast instead of after reading 120 MB.
  const paths = files.map((f) => findBatch(dir, f));
  const parts = paths.map(readBatch);
  return decodeBatches(parts, readClassNames(dirname(paths[0])));
}

/**
 * Train / validation / test splits of the CIFAR-10 binary distribution in `dir`, like `idxSplits`:
 * `test_batch.bin` is the test set untouched, and `validationSize` samples of the five training batches are
 * held out by a seeded permutation (same seed → same split). `source` reads e.g.
 * `"cifar10:/data/cifar, seed 1, validation 5000 of train"`.
 *
 * @throws BranchyDataError as {@link loadCifar10}, and `DATA_SPLIT_TOO_LARGE` when `validationSize` exceeds
 *   the training batches' count.
 */
export function cifar10Splits(dir: string, seed: number, validationSize = 5000): DatasetSplits {
  const full = loadCifar10(dir, 'train');
  const test = loadCifar10(dir, 'test');
  const trainSize = Math.max(0, full.count - validationSize);
  const { train, validation } = splitDataset(full, { train: trainSize, validation: validationSize, test: 0 }, seed);
  return { train, validation, test, source: `cifar10:${dir}, seed ${seed}, validation ${validationSize} of train` };
}
