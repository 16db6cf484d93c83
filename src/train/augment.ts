import type { Rng } from '../common/rng.ts';

/**
 * Moves each image of a batch by a random whole-pixel offset in [-maxShift, maxShift] on both axes, filling the
 * uncovered border with zeros (MNIST's background). Small translations are the classic cheap augmentation for
 * digit recognition; they cut overfitting on small training sets.
 *
 * @param src `count` images, NHWC
 * @param dst where the shifted images go (same size as the used part of `src`; must not alias it)
 */
export function shiftImages(src: Float32Array, dst: Float32Array, count: number, shape: readonly [number, number, number], maxShift: number, rng: Rng): void {
  const [h, w, c] = shape;
  const size = h * w * c;
  dst.fill(0, 0, count * size);
  for (let i = 0; i < count; i++) {
    const dy = rng.int(2 * maxShift + 1) - maxShift;
    const dx = rng.int(2 * maxShift + 1) - maxShift;
    const base = i * size;
    const x0 = Math.max(0, dx);
    const x1 = Math.min(w, w + dx);
    if (x1 <= x0) continue;
    for (let y = Math.max(0, dy); y < Math.min(h, h + dy); y++) {
      const from = base + ((y - dy) * w + (x0 - dx)) * c;
      dst.set(src.subarray(from, from + (x1 - x0) * c), base + (y * w + x0) * c);
    }
  }
}
