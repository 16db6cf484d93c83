import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import { shiftImages } from '../../src/train/augment.ts';

describe('shift augmentation', () => {
  it('a shift of 0 copies the images unchanged', () => {
    const src = Float32Array.from({ length: 2 * 4 * 4 }, (_, i) => i + 1);
    const dst = new Float32Array(src.length);
    shiftImages(src, dst, 2, [4, 4, 1], 0, new Rng(1));
    assert.deepEqual(dst, src);
  });

  it('moves every pixel by one offset per image and fills the border with zeros', () => {
    const shape = [5, 5, 2] as const;
    const src = new Float32Array(50);
    src[(2 * 5 + 2) * 2] = 7; // centre pixel, channel 0
    src[(2 * 5 + 2) * 2 + 1] = 9; // centre pixel, channel 1
    for (let seed = 1; seed <= 20; seed++) {
      const dst = new Float32Array(50).fill(-1);
      shiftImages(src, dst, 1, shape, 2, new Rng(seed));
      const at = dst.indexOf(7);
      assert.ok(at >= 0 && at % 2 === 0, 'the bright pixel survives a shift of at most 2 from the centre');
      assert.equal(dst[at + 1], 9, 'channels move together');
      assert.equal(dst.filter((v) => v !== 0).length, 2, 'everything else is zero');
      const y = Math.floor(at / 2 / 5);
      const x = (at / 2) % 5;
      assert.ok(Math.abs(y - 2) <= 2 && Math.abs(x - 2) <= 2);
    }
  });
});
