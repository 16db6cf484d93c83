import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import { batches, createDataset, sample, sampleSize, subset, type Dataset } from '../../src/data/index.ts';

/** n samples of shape [2, 2, 1] whose every value is the sample index, labels i % 3. */
function tiny(n: number): Dataset {
  const x = new Float32Array(n * 4);
  for (let i = 0; i < x.length; i++) x[i] = Math.floor(i / 4);
  const y = Uint8Array.from({ length: n }, (_, i) => i % 3);
  return createDataset({ x, y, shape: [2, 2, 1], classes: ['a', 'b', 'c'] });
}

describe('Dataset helpers', () => {
  it('createDataset derives count and rejects x that does not match labels and shape', () => {
    const ds = tiny(5);
    assert.equal(ds.count, 5);
    assert.equal(sampleSize(ds), 4);
    assert.throws(() => createDataset({ x: new Float32Array(7), y: new Uint8Array(2), shape: [2, 2, 1], classes: ['a'] }), {
      name: 'BranchyDataError',
      code: 'DATA_BAD_SHAPE',
      message: /7 values.*2 labels.*need 8/,
    });
    assert.throws(() => createDataset({ x: new Float32Array(4), y: Uint8Array.of(3), shape: [2, 2, 1], classes: ['a', 'b'] }), {
      code: 'DATA_BAD_SHAPE',
      message: /label 3/,
    });
  });

  it('sample returns a view of one sample', () => {
    const ds = tiny(5);
    const s = sample(ds, 3);
    assert.deepEqual(Array.from(s), [3, 3, 3, 3]);
    assert.equal(s.buffer, ds.x.buffer);
    assert.throws(() => sample(ds, 5), { name: 'BranchyArgumentError', code: 'DATA_INDEX_OUT_OF_RANGE', message: /5/ });
  });

  it('subset copies the chosen samples in the given order, repeats allowed', () => {
    const ds = tiny(6);
    const sub = subset(ds, [4, 1, 4]);
    assert.equal(sub.count, 3);
    assert.deepEqual(sub.shape, [2, 2, 1]);
    assert.deepEqual(sub.classes, ['a', 'b', 'c']);
    assert.deepEqual(Array.from(sub.x), [4, 4, 4, 4, 1, 1, 1, 1, 4, 4, 4, 4]);
    assert.deepEqual(Array.from(sub.y), [1, 1, 1]);
    sub.x[0] = -1;
    assert.equal(ds.x[16], 4, 'subset must not alias the source');
    assert.throws(() => subset(ds, [0, 6]), { code: 'DATA_INDEX_OUT_OF_RANGE', message: /indices\[1\] = 6/ });
  });

  it('batches cover every index exactly once, in order, with a short last batch', () => {
    const ds = tiny(10);
    const seen: number[] = [];
    const sizes: number[] = [];
    for (const b of batches(ds, 4)) {
      sizes.push(b.size);
      assert.equal(b.x.length, b.size * 4);
      assert.equal(b.y.length, b.size);
      for (let i = 0; i < b.size; i++) {
        const j = b.indices[i];
        seen.push(j);
        assert.equal(b.x[i * 4], j);
        assert.equal(b.y[i], j % 3);
      }
    }
    assert.deepEqual(sizes, [4, 4, 2]);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('batches follow a shuffled order and still cover every index exactly once', () => {
    const ds = tiny(23);
    const order = new Rng(7).permutation(ds.count);
    const seen: number[] = [];
    for (const b of batches(ds, 5, order)) {
      seen.push(...b.indices);
      for (let i = 0; i < b.size; i++) assert.equal(b.x[i * 4], b.indices[i]);
    }
    assert.deepEqual(seen, Array.from(order));
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 23 }, (_, i) => i),
    );
  });

  it('batches reject a batch size that is not a positive integer at the call', () => {
    const ds = tiny(3);
    assert.throws(() => batches(ds, 0), { code: 'DATA_BAD_BATCH_SIZE', message: /batchSize 0/ });
    assert.throws(() => batches(ds, 2.5), { code: 'DATA_BAD_BATCH_SIZE' });
  });
});
