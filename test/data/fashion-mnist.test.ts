import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDataSource } from '../../src/data/source.ts';
import { FASHION_MNIST_CLASSES } from '../../src/data/index.ts';
import { FASHION_MNIST_PACKAGE, needs } from '../system-packages.ts';

// The real data set, from Debian's dataset-fashion-mnist (installed by .ci/run).
describe('Fashion-MNIST from the Debian package', { skip: needs(FASHION_MNIST_PACKAGE) }, () => {
  it("'--data fashion-mnist' gives 55,000 train, 5,000 validation and 10,000 test images of clothing", () => {
    const splits = loadDataSource('fashion-mnist', 1);
    assert.equal(splits.train.count, 55000);
    assert.equal(splits.validation.count, 5000);
    assert.equal(splits.test.count, 10000);
    assert.deepEqual(splits.test.classes, FASHION_MNIST_CLASSES);
    assert.deepEqual(splits.test.shape, [28, 28, 1]);
    let min = Infinity;
    let max = -Infinity;
    for (const v of splits.test.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
    const perClass = new Array<number>(10).fill(0);
    for (const y of splits.test.y) perClass[y]++;
    assert.deepEqual(perClass, new Array(10).fill(1000), 'the test set holds 1,000 of each class');
  });
});
