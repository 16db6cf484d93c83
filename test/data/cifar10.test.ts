import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadDataSource } from '../../src/data/source.ts';
import { BranchyDataError } from '../../src/common/errors.ts';
import { CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, cifar10Splits, loadCifar10, parseCifar10Batch, type Dataset } from '../../src/data/index.ts';
import { tempDir } from '../helpers.ts';

/** Byte of record `g` (numbered across all batches), channel `c` (0 R, 1 G, 2 B), pixel `p` (y * 32 + x). */
function pixelByte(g: number, c: number, p: number): number {
  return (g * 31 + c * 85 + p * 3) % 256;
}

/** `n` CIFAR-10 records numbered from `first`: label `g % 10`, pixels {@link pixelByte}, channel-major. */
function records(first: number, n: number): Uint8Array {
  const out = new Uint8Array(n * CIFAR10_RECORD_BYTES);
  for (let r = 0; r < n; r++) {
    const g = first + r;
    const o = r * CIFAR10_RECORD_BYTES;
    out[o] = g % 10;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[o + 1 + c * 1024 + p] = pixelByte(g, c, p);
  }
  return out;
}

/** Five data batches of `perBatch` records (numbered 0…) and a test batch of `test` records (numbered 100…). */
function writeCifar(dir: string, perBatch = 3, test = 2): void {
  mkdirSync(dir, { recursive: true });
  for (let b = 0; b < 5; b++) writeFileSync(join(dir, `data_batch_${b + 1}.bin`), records(b * perBatch, perBatch));
  writeFileSync(join(dir, 'test_batch.bin'), records(100, test));
}

/** The NHWC value at sample `i`, row `y`, column `x`, channel `c`. */
function at(ds: Dataset, i: number, y: number, x: number, c: number): number {
  return ds.x[i * 3072 + (y * 32 + x) * 3 + c];
}

/** Asserts sample `i` of `ds` is record `g` exactly, pixel by pixel, and carries its label. */
function assertRecord(ds: Dataset, i: number, g: number): void {
  assert.equal(ds.y[i], g % 10);
  for (let p = 0; p < 1024; p++) {
    for (let c = 0; c < 3; c++) {
      const got = at(ds, i, Math.floor(p / 32), p % 32, c);
      if (got !== Math.fround(pixelByte(g, c, p) / 255)) {
        assert.fail(`sample ${i} pixel ${p} channel ${c}: got ${got}, expected ${pixelByte(g, c, p)}/255`);
      }
    }
  }
}

/** Runs `fn`, asserting it throws a BranchyDataError with `code` whose message contains every `parts`. */
function assertDataError(fn: () => unknown, code: string, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BranchyDataError, `expected BranchyDataError, got ${String(e)}`);
    assert.equal(e.code, code);
    for (const part of parts) assert.ok(e.message.includes(part), `message ${JSON.stringify(e.message)} lacks ${part}`);
    return true;
  });
}

/** A label identifying each sample: records carry distinct red bytes at pixel 0 (g * 31 mod 256, g < 100+). */
function ids(ds: Dataset): number[] {
  return Array.from({ length: ds.count }, (_, i) => Math.round(at(ds, i, 0, 0, 0) * 255));
}

describe('CIFAR-10 binary batches', () => {
  it('parseCifar10Batch turns channel-major records into NHWC [32, 32, 3] scaled to [0,1]', () => {
    const bytes = new Uint8Array(CIFAR10_RECORD_BYTES);
    bytes[0] = 7;
    const y = 2;
    const x = 5;
    bytes[1 + 0 * 1024 + y * 32 + x] = 255; // red plane
    bytes[1 + 1 * 1024 + y * 32 + x] = 51; // green plane
    bytes[1 + 2 * 1024 + y * 32 + x] = 102; // blue plane
    const ds = parseCifar10Batch(bytes, 'one.bin');
    assert.deepEqual(ds.shape, [32, 32, 3]);
    assert.equal(ds.count, 1);
    assert.deepEqual(Array.from(ds.y), [7]);
    assert.deepEqual([at(ds, 0, y, x, 0), at(ds, 0, y, x, 1), at(ds, 0, y, x, 2)], [1, Math.fround(0.2), Math.fround(0.4)]);
    // Every other value is zero: the three bytes landed only at [y][x][0..2].
    assert.equal(
      ds.x.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0),
      3,
    );
    assert.deepEqual(ds.classes, CIFAR10_CLASSES);
  });

  it('parseCifar10Batch decodes every pixel and label of several records exactly', () => {
    const ds = parseCifar10Batch(records(4, 3), 'three.bin');
    assert.equal(ds.count, 3);
    assert.equal(ds.x.length, 3 * 3072);
    for (let i = 0; i < 3; i++) assertRecord(ds, i, 4 + i);
  });

  it('names the ten CIFAR-10 classes in label order', () => {
    assert.deepEqual(CIFAR10_CLASSES, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  });

  it('rejects a length that is not a multiple of 3073, quoting length and remainder', () => {
    const bytes = records(0, 2).subarray(0, 2 * CIFAR10_RECORD_BYTES - 10);
    assertDataError(() => parseCifar10Batch(bytes, 'cut.bin'), 'DATA_CIFAR_TRUNCATED', 'cut.bin', '6136', 'remainder 3063');
    assertDataError(() => parseCifar10Batch(new Uint8Array(0), 'empty.bin'), 'DATA_CIFAR_TRUNCATED', 'empty.bin');
  });

  it('rejects a label byte above 9, quoting record index and value', () => {
    const bytes = records(0, 3);
    bytes[2 * CIFAR10_RECORD_BYTES] = 10;
    assertDataError(() => parseCifar10Batch(bytes, 'bad.bin'), 'DATA_CIFAR_BAD_LABEL', 'bad.bin', 'record 2', 'label byte 10');
  });
});

describe('CIFAR-10 directory loading', () => {
  const dir = tempDir();
  writeCifar(dir);

  it("loadCifar10 'train' concatenates data_batch_1..5 in order", () => {
    const ds = loadCifar10(dir, 'train');
    assert.equal(ds.count, 15);
    assert.deepEqual(ds.shape, [32, 32, 3]);
    assert.deepEqual(Array.from(ds.y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);
    for (let i = 0; i < 15; i++) assertRecord(ds, i, i);
    assert.deepEqual(ds.classes, CIFAR10_CLASSES);
  });

  it("loadCifar10 'test' reads test_batch.bin", () => {
    const ds = loadCifar10(dir, 'test');
    assert.equal(ds.count, 2);
    assertRecord(ds, 0, 100);
    assertRecord(ds, 1, 101);
  });

  it('finds the batches inside a cifar-10-batches-bin/ folder, and gzipped batches', () => {
    const outer = tempDir();
    const inner = join(outer, 'cifar-10-batches-bin');
    writeCifar(inner, 1, 1);
    writeFileSync(join(inner, 'test_batch.bin.gz'), gzipSync(records(50, 1)));
    rmSync(join(inner, 'test_batch.bin'));
    assert.equal(loadCifar10(outer, 'train').count, 5);
    assertRecord(loadCifar10(outer, 'test'), 0, 50);
  });

  it('takes class names from a well-formed batches.meta.txt and ignores a malformed one', () => {
    const named = tempDir();
    writeCifar(named, 1, 1);
    const names = CIFAR10_CLASSES.map((c) => c.toUpperCase());
    writeFileSync(join(named, 'batches.meta.txt'), `${names.join('\n')}\n\n`);
    assert.deepEqual(loadCifar10(named, 'test').classes, names);

    writeFileSync(join(named, 'batches.meta.txt'), 'only\nthree\nnames\n');
    assert.deepEqual(loadCifar10(named, 'test').classes, CIFAR10_CLASSES);
  });

  it('cifar10Splits holds a seeded validation set out of train and keeps test_batch as test', () => {
    const a = cifar10Splits(dir, 1, 4);
    assert.equal(a.train.count, 11);
    assert.equal(a.validation.count, 4);
    assert.equal(a.test.count, 2);
    assert.deepEqual(ids(a.test), [(100 * 31) % 256, (101 * 31) % 256]);
    const all = [...ids(a.train), ...ids(a.validation)];
    assert.deepEqual(
      [...all].sort((p, q) => p - q),
      Array.from({ length: 15 }, (_, g) => (g * 31) % 256).sort((p, q) => p - q),
      'train and validation are disjoint and together cover every training record',
    );
    assert.equal(a.source, `cifar10:${dir}, seed 1, validation 4 of train`);

    const again = cifar10Splits(dir, 1, 4);
    assert.deepEqual(ids(again.validation), ids(a.validation));
    const other = cifar10Splits(dir, 2, 4);
    assert.notDeepEqual(ids(other.validation), ids(a.validation));
  });

  it('a truncated batch gives DATA_CIFAR_TRUNCATED naming that file', () => {
    const d = tempDir();
    writeCifar(d);
    writeFileSync(join(d, 'data_batch_3.bin'), records(0, 2).subarray(0, 4000));
    assertDataError(() => loadCifar10(d, 'train'), 'DATA_CIFAR_TRUNCATED', join(d, 'data_batch_3.bin'), '4000', 'remainder 927');
  });

  it('a bad label gives DATA_CIFAR_BAD_LABEL naming that file', () => {
    const d = tempDir();
    writeCifar(d);
    const bytes = records(100, 2);
    bytes[CIFAR10_RECORD_BYTES] = 200;
    writeFileSync(join(d, 'test_batch.bin'), bytes);
    assertDataError(() => loadCifar10(d, 'test'), 'DATA_CIFAR_BAD_LABEL', join(d, 'test_batch.bin'), 'record 1', '200');
  });

  it('a missing batch gives DATA_NOT_FOUND listing the paths looked for', () => {
    const d = tempDir();
    writeCifar(d);
    rmSync(join(d, 'data_batch_4.bin'));
    assertDataError(() => loadCifar10(d, 'train'), 'DATA_NOT_FOUND', join(d, 'data_batch_4.bin'), join(d, 'cifar-10-batches-bin', 'data_batch_4.bin'));
    assertDataError(() => cifar10Splits(tempDir(), 1), 'DATA_NOT_FOUND', 'data_batch_1.bin');
  });

  it("loadDataSource('cifar10:DIR', seed) loads the splits with 5000 validation samples", () => {
    // The CLI always holds out 5000, so this fixture needs more: 1001 blank-pixel records per batch.
    const d = tempDir();
    for (let b = 0; b < 5; b++) {
      const bytes = new Uint8Array(1001 * CIFAR10_RECORD_BYTES);
      for (let r = 0; r < 1001; r++) bytes[r * CIFAR10_RECORD_BYTES] = (b + r) % 10;
      writeFileSync(join(d, `data_batch_${b + 1}.bin`), bytes);
    }
    writeFileSync(join(d, 'test_batch.bin'), records(100, 2));
    const splits = loadDataSource(`cifar10:${d}`, 1);
    assert.equal(splits.train.count, 5);
    assert.equal(splits.validation.count, 5000);
    assert.equal(splits.test.count, 2);
    assert.deepEqual(splits.train.shape, [32, 32, 3]);
    assert.deepEqual(splits.test.classes, CIFAR10_CLASSES);
    assert.ok(splits.source.startsWith(`cifar10:${d}, seed 1`));
  });
});
