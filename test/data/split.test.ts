import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDataset, splitDataset, type Dataset } from '../../src/data/index.ts';

/** n one-pixel samples whose value is the sample index, so a split's x tells which samples it took. */
function indexed(n: number): Dataset {
  const x = Float32Array.from({ length: n }, (_, i) => i);
  const y = Uint8Array.from({ length: n }, (_, i) => i % 2);
  return createDataset({ x, y, shape: [1, 1, 1], classes: ['even', 'odd'] });
}

describe('splitDataset', () => {
  it('gives parts of the exact sizes, disjoint, with labels following their samples', () => {
    const ds = indexed(100);
    const s = splitDataset(ds, { train: 60, validation: 25, test: 10 }, 3);
    assert.deepEqual([s.train.count, s.validation.count, s.test.count], [60, 25, 10]);
    const all = [...s.train.x, ...s.validation.x, ...s.test.x];
    assert.equal(new Set(all).size, 95);
    for (const part of [s.train, s.validation, s.test]) {
      for (let i = 0; i < part.count; i++) assert.equal(part.y[i], part.x[i] % 2);
    }
  });

  it('is identical for the same seed and differs for another seed', () => {
    const ds = indexed(50);
    const sizes = { train: 30, validation: 10, test: 10 };
    const a = splitDataset(ds, sizes, 11);
    const b = splitDataset(ds, sizes, 11);
    const c = splitDataset(ds, sizes, 12);
    assert.deepEqual(a.train.x, b.train.x);
    assert.deepEqual(a.test.x, b.test.x);
    assert.notDeepEqual(a.train.x, c.train.x);
  });

  it('throws DATA_SPLIT_TOO_LARGE quoting the sizes when they exceed the count', () => {
    assert.throws(() => splitDataset(indexed(10), { train: 8, validation: 2, test: 1 }, 1), {
      name: 'BranchyDataError',
      code: 'DATA_SPLIT_TOO_LARGE',
      message: /train 8 \+ validation 2 \+ test 1 = 11.*only 10/,
    });
  });

  it('rejects negative or fractional sizes', () => {
    assert.throws(() => splitDataset(indexed(10), { train: -1, validation: 2, test: 1 }, 1), {
      code: 'DATA_SPLIT_BAD_SIZE',
      message: /sizes.train = -1/,
    });
    assert.throws(() => splitDataset(indexed(10), { train: 1, validation: 2.5, test: 1 }, 1), {
      code: 'DATA_SPLIT_BAD_SIZE',
    });
  });
});
