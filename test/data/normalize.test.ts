import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channelStats, createDataset, normalize } from '../../src/data/index.ts';

describe('channelStats and normalize', () => {
  // Two samples of shape [1, 2, 2]: channel 0 holds 1, 3, 5, 7 and channel 1 holds 10, 10, 10, 10.
  const x = Float32Array.of(1, 10, 3, 10, 5, 10, 7, 10);
  const ds = createDataset({ x, y: Uint8Array.of(0, 0), shape: [1, 2, 2], classes: ['only'] });

  it('computes the per-channel mean and population std of a known array', () => {
    const stats = channelStats(ds);
    assert.deepEqual(stats.mean, [4, 10]);
    assert.equal(stats.std[0], Math.sqrt(5));
    assert.equal(stats.std[1], 0);
  });

  it('normalizes into a new array, mapping a constant channel to 0 instead of NaN', () => {
    const out = normalize(x, 2, channelStats(ds));
    assert.notEqual(out, x);
    const s = Math.sqrt(5);
    const expected = [-3 / s, 0, -1 / s, 0, 1 / s, 0, 3 / s, 0];
    out.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `out[${i}] = ${v}, expected ${expected[i]}`));
    assert.equal(x[0], 1, 'input untouched');
  });

  it('rejects stats that do not match the channel count', () => {
    assert.throws(() => normalize(x, 2, { mean: [0], std: [1] }), {
      name: 'BranchyArgumentError',
      code: 'DATA_BAD_STATS',
      message: /1 means and 1 stds: expected 2/,
    });
    assert.throws(() => normalize(x, 3, { mean: [0, 0, 0], std: [1, 1, 1] }), { code: 'DATA_BAD_STATS' });
  });
});
