import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import { batchAugmenter, flipImages, shiftImages } from '../../src/train/augment.ts';

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

/** Image `i` of a batch zero-padded by `pad` on every side and cropped back to its size at (top, left). */
function padAndCrop(src: Float32Array, shape: readonly [number, number, number], pad: number, top: number, left: number): Float32Array {
  const [h, w, c] = shape;
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = y + top - pad;
      const sx = x + left - pad;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
      for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = src[(sy * w + sx) * c + ch];
    }
  }
  return out;
}

describe('CIFAR crop and flip augmentation', () => {
  const shape = [6, 5, 3] as const;
  const image = Float32Array.from({ length: 6 * 5 * 3 }, (_, i) => i + 1);

  it('a shift is the random crop of the zero-padded image: every shift equals some crop at offsets 0..2·pad', () => {
    const pad = 2;
    const crops: Float32Array[] = [];
    for (let top = 0; top <= 2 * pad; top++) for (let left = 0; left <= 2 * pad; left++) crops.push(padAndCrop(image, shape, pad, top, left));
    const seen = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const dst = new Float32Array(image.length);
      shiftImages(image, dst, 1, shape, pad, new Rng(seed));
      const match = crops.findIndex((c) => c.every((v, i) => v === dst[i]));
      assert.ok(match >= 0, `seed ${seed}: the shifted image is a crop of the padded one`);
      seen.add(match);
    }
    assert.ok(seen.size > 15, `60 draws reach most of the 25 crops (reached ${seen.size})`);
  });

  it('a flip mirrors each row, keeps channels together, and two flips restore the image', () => {
    const flips: boolean[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const x = image.slice();
      flipImages(x, 1, shape, new Rng(seed));
      const flipped = x.some((v, i) => v !== image[i]);
      flips.push(flipped);
      if (flipped) {
        for (let y = 0; y < 6; y++)
          for (let col = 0; col < 5; col++) for (let ch = 0; ch < 3; ch++) assert.equal(x[(y * 5 + col) * 3 + ch], image[(y * 5 + (4 - col)) * 3 + ch]);
        const twice = x.slice();
        flipImages(twice, 1, shape, new Rng(seed));
        assert.deepEqual(twice, image);
      }
    }
    assert.ok(flips.includes(true) && flips.includes(false), 'about half the draws flip');
  });

  it('the batch augmenter is seeded, leaves its input alone, and is absent when nothing is asked for', () => {
    assert.equal(batchAugmenter({ augmentShift: 0, augmentFlip: false }, shape, 4), undefined);
    const batch = Float32Array.from({ length: 4 * image.length }, (_, i) => (i % 97) + 1);
    const kept = batch.slice();
    const run = (seed: number) => batchAugmenter({ augmentShift: 4, augmentFlip: true }, shape, 4)!(batch, 4, new Rng(seed)).slice();
    assert.deepEqual(run(3), run(3));
    assert.notDeepEqual(run(3), run(4));
    assert.deepEqual(batch, kept);
    const flipOnly = batchAugmenter({ augmentFlip: true }, shape, 4)!(batch, 4, new Rng(5));
    for (let i = 0; i < 4; i++) {
      const one = flipOnly.subarray(i * image.length, (i + 1) * image.length);
      const original = batch.subarray(i * image.length, (i + 1) * image.length);
      assert.deepEqual(
        [...one].sort((a, b) => a - b),
        [...original].sort((a, b) => a - b),
        'a flip only moves pixels',
      );
    }
  });
});
