import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FASHION_MNIST_CLASSES, idxSplits, loadIdxDataset, parseIdx, writeIdx, type IdxDtype } from '../../src/data/index.ts';
import { tempDir } from '../helpers.ts';

/** n images of h×w ubyte pixels: pixel value (image * 7 + pixel) % 256, labels image % 10. */
function fakeMnist(n: number, h = 4, w = 3): { images: Uint8Array; labels: Uint8Array } {
  const pixels = Uint8Array.from({ length: n * h * w }, (_, i) => (Math.floor(i / (h * w)) * 7 + (i % (h * w))) % 256);
  return {
    images: writeIdx(pixels, [n, h, w], 'ubyte'),
    labels: writeIdx(
      Uint8Array.from({ length: n }, (_, i) => i % 10),
      [n],
      'ubyte',
    ),
  };
}

/** Writes a train (and optionally t10k) pair into a new temp dir, gzipped or raw. */
function writeDistribution(opts: { gzip: boolean; train: number; test?: number; dotNames?: boolean }): string {
  const dir = tempDir();
  const put = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, opts.gzip ? `${name}.gz` : name), opts.gzip ? gzipSync(bytes) : bytes);
  const sep = opts.dotNames ? '.' : '-';
  const tr = fakeMnist(opts.train);
  put(`train-images${sep}idx3-ubyte`, tr.images);
  put(`train-labels${sep}idx1-ubyte`, tr.labels);
  if (opts.test !== undefined) {
    const te = fakeMnist(opts.test);
    put(`t10k-images${sep}idx3-ubyte`, te.images);
    put(`t10k-labels${sep}idx1-ubyte`, te.labels);
  }
  return dir;
}

describe('IDX format', () => {
  it('round-trips ubyte data and dims through writeIdx / parseIdx', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 5 }, (_, i) => (i * 37) % 256);
    const bytes = writeIdx(data, [2, 3, 5], 'ubyte');
    assert.deepEqual(Array.from(bytes.subarray(0, 4)), [0, 0, 0x08, 3]);
    assert.equal(bytes.length, 4 + 12 + 30);
    const t = parseIdx(bytes, 'mem');
    assert.equal(t.dtype, 'ubyte');
    assert.deepEqual(t.dims, [2, 3, 5]);
    assert.ok(t.data instanceof Uint8Array);
    assert.deepEqual(Array.from(t.data), Array.from(data));
  });

  it('round-trips float data big-endian, exactly as float32', () => {
    const data = Float32Array.of(0, 0.1, -2.5, 1e-7, 3.4e38, 1);
    const bytes = writeIdx(data, [6], 'float');
    // 1.0f big-endian is 3f 80 00 00.
    assert.deepEqual(Array.from(bytes.subarray(bytes.length - 4)), [0x3f, 0x80, 0, 0]);
    const t = parseIdx(bytes, 'mem');
    assert.equal(t.dtype, 'float');
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual(t.data, data);
  });

  it('round-trips the other element types', () => {
    const cases: [IdxDtype, number[], abstract new (...args: never[]) => unknown][] = [
      ['byte', [-128, -1, 0, 127], Int8Array],
      ['short', [-32768, -2, 300, 32767], Int16Array],
      ['int', [-2147483648, -5, 70000, 2147483647], Int32Array],
      ['double', [Math.PI, -1e300, 0, 5e-324], Float64Array],
    ];
    for (const [dtype, values, ctor] of cases) {
      const t = parseIdx(writeIdx(values, [2, 2], dtype), dtype);
      assert.equal(t.dtype, dtype);
      assert.ok(t.data instanceof ctor, dtype);
      assert.deepEqual(Array.from(t.data), values, dtype);
    }
  });

  it('parses gzipped bytes transparently', () => {
    const data = Uint8Array.of(1, 2, 3, 250);
    const t = parseIdx(gzipSync(writeIdx(data, [2, 2], 'ubyte')), 'mem.gz');
    assert.deepEqual(Array.from(t.data), [1, 2, 3, 250]);
  });

  it('writeIdx refuses values that do not fit the type and dims that do not fit the data', () => {
    assert.throws(() => writeIdx([0, 256], [2], 'ubyte'), { code: 'DATA_IDX_BAD_VALUE', message: /256/ });
    assert.throws(() => writeIdx([0.5], [1], 'ubyte'), { code: 'DATA_IDX_BAD_VALUE' });
    assert.throws(() => writeIdx([1, 2, 3], [2, 2], 'float'), { code: 'DATA_IDX_BAD_DIMS', message: /4 values.*3/ });
  });

  it('rejects a bad magic, quoting the bytes seen', () => {
    const bytes = writeIdx([1, 2], [2], 'ubyte');
    bytes[2] = 0x42;
    assert.throws(() => parseIdx(bytes, 'weird.idx'), {
      name: 'BranchyDataError',
      code: 'DATA_IDX_BAD_MAGIC',
      message: /weird\.idx.*0x00 0x00 0x42 0x01/,
    });
    assert.throws(() => parseIdx(new TextEncoder().encode('hello'), 'text.idx'), { code: 'DATA_IDX_BAD_MAGIC' });
  });

  it('rejects a truncated file, giving expected and actual sizes', () => {
    const bytes = writeIdx(new Uint8Array(12), [3, 4], 'ubyte');
    assert.throws(() => parseIdx(bytes.subarray(0, bytes.length - 1), 'short.idx'), {
      code: 'DATA_IDX_TRUNCATED',
      message: /short\.idx: 23 bytes.*needs 24 bytes/,
    });
    assert.throws(() => parseIdx(bytes.subarray(0, 6), 'header.idx'), { code: 'DATA_IDX_TRUNCATED' });
  });

  it('rejects bytes after the data', () => {
    const bytes = writeIdx(new Uint8Array(4), [4], 'ubyte');
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    assert.throws(() => parseIdx(longer, 'long.idx'), { code: 'DATA_IDX_TRAILING_BYTES', message: /3 extra/ });
  });

  it('rejects a corrupt gzip stream', () => {
    const gz = gzipSync(writeIdx(new Uint8Array(100), [100], 'ubyte'));
    assert.throws(() => parseIdx(gz.subarray(0, 12), 'cut.gz'), {
      code: 'DATA_IDX_BAD_GZIP',
      message: /cut\.gz/,
    });
  });
});

describe('IDX data sets', () => {
  it('loads raw files, scaling ubyte pixels to [0,1]', () => {
    const dir = writeDistribution({ gzip: false, train: 12, test: 5 });
    const ds = loadIdxDataset(dir, { split: 'train' });
    assert.equal(ds.count, 12);
    assert.deepEqual(ds.shape, [4, 3, 1]);
    assert.deepEqual(ds.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // Image 2, pixel 5: (2 * 7 + 5) % 256 = 19.
    assert.equal(ds.x[2 * 12 + 5], Math.fround(19 / 255));
    assert.equal(ds.y[11], 1);
    assert.equal(loadIdxDataset(dir, { split: 'test' }).count, 5);
  });

  it('loads gzipped files the same as raw ones, and the dot spelling of the names', () => {
    const raw = loadIdxDataset(writeDistribution({ gzip: false, train: 9 }), { split: 'train' });
    const gz = loadIdxDataset(writeDistribution({ gzip: true, train: 9 }), { split: 'train' });
    const dot = loadIdxDataset(writeDistribution({ gzip: false, train: 9, dotNames: true }), { split: 'train' });
    assert.deepEqual(gz.x, raw.x);
    assert.deepEqual(gz.y, raw.y);
    assert.deepEqual(dot.x, raw.x);
  });

  it('uses given class names such as Fashion-MNIST', () => {
    const dir = writeDistribution({ gzip: true, train: 3 });
    const ds = loadIdxDataset(dir, { split: 'train', classes: FASHION_MNIST_CLASSES });
    assert.equal(ds.classes[9], 'Ankle boot');
    assert.equal(ds.classes.length, 10);
  });

  it('idxSplits holds out a seeded validation set from train and keeps t10k as test', () => {
    const dir = writeDistribution({ gzip: true, train: 40, test: 7 });
    const a = idxSplits(dir, 5, 10);
    assert.deepEqual([a.train.count, a.validation.count, a.test.count], [30, 10, 7]);
    assert.match(a.source, /seed 5/);
    const b = idxSplits(dir, 5, 10);
    assert.deepEqual(b.validation.x, a.validation.x);
    // Every image is distinct (first pixel is image * 7), so train and validation must not share one.
    const first = (ds: typeof a.train) => Array.from({ length: ds.count }, (_, i) => ds.x[i * 12]);
    const trainFirst = new Set(first(a.train));
    assert.ok(first(a.validation).every((v) => !trainFirst.has(v)));
    assert.throws(() => idxSplits(dir, 5, 41), { code: 'DATA_SPLIT_TOO_LARGE' });
  });

  it('reports DATA_NOT_FOUND listing the file names looked for', () => {
    const dir = tempDir();
    assert.throws(() => loadIdxDataset(dir, { split: 'test' }), {
      name: 'BranchyDataError',
      code: 'DATA_NOT_FOUND',
      message: /t10k-images-idx3-ubyte.*t10k-images-idx3-ubyte\.gz/,
    });
    // Images present but labels missing: the labels names are listed.
    const partial = tempDir();
    writeFileSync(join(partial, 'train-images-idx3-ubyte'), fakeMnist(2).images);
    assert.throws(() => loadIdxDataset(partial, { split: 'train' }), {
      code: 'DATA_NOT_FOUND',
      message: /train-labels-idx1-ubyte/,
    });
  });

  it('reports DATA_IDX_COUNT_MISMATCH naming both files and counts', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), fakeMnist(6).images);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), fakeMnist(5).labels);
    assert.throws(() => loadIdxDataset(dir, { split: 'train' }), {
      code: 'DATA_IDX_COUNT_MISMATCH',
      message: /train-images-idx3-ubyte holds 6 images but .*train-labels-idx1-ubyte holds 5 labels/,
    });
  });

  it('reports bad magic, truncation and bad gzip with the file path', () => {
    const dir = tempDir();
    const { images, labels } = fakeMnist(4);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels);

    writeFileSync(join(dir, 'train-images-idx3-ubyte'), Uint8Array.of(0x50, 0x4b, 3, 4, 0, 0, 0, 0));
    assert.throws(() => loadIdxDataset(dir, { split: 'train' }), {
      code: 'DATA_IDX_BAD_MAGIC',
      message: /train-images-idx3-ubyte: first bytes are 0x50 0x4b 0x03 0x04/,
    });

    writeFileSync(join(dir, 'train-images-idx3-ubyte'), images.subarray(0, images.length - 10));
    assert.throws(() => loadIdxDataset(dir, { split: 'train' }), {
      code: 'DATA_IDX_TRUNCATED',
      message: new RegExp(`train-images-idx3-ubyte: ${images.length - 10} bytes.*needs ${images.length} bytes`),
    });

    rmSync(join(dir, 'train-images-idx3-ubyte'));
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(images).subarray(0, 20));
    assert.throws(() => loadIdxDataset(dir, { split: 'train' }), {
      code: 'DATA_IDX_BAD_GZIP',
      message: /train-images-idx3-ubyte\.gz/,
    });
  });

  it('rejects labels without a class name', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), fakeMnist(2).images);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), writeIdx([1, 12], [2], 'ubyte'));
    assert.throws(() => loadIdxDataset(dir, { split: 'train' }), { code: 'DATA_IDX_BAD_LABEL', message: /label 12/ });
  });
});
