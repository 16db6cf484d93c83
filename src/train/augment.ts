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

/**
 * Mirrors each image of a batch left to right with probability 1/2, in place. With `shiftImages` this is the
 * standard CIFAR-10 augmentation (random crop after zero padding, horizontal flip).
 *
 * @param x `count` images, NHWC
 */
export function flipImages(x: Float32Array, count: number, shape: readonly [number, number, number], rng: Rng): void {
  const [h, w, c] = shape;
  const size = h * w * c;
  for (let i = 0; i < count; i++) {
    if (rng.next() >= 0.5) continue;
    for (let y = 0; y < h; y++) {
      const row = i * size + y * w * c;
      for (let left = 0, right = w - 1; left < right; left++, right--) {
        for (let ch = 0; ch < c; ch++) {
          const a = row + left * c + ch;
          const b = row + right * c + ch;
          const t = x[a];
          x[a] = x[b];
          x[b] = t;
        }
      }
    }
  }
}

/** Augments the first `count` images of a batch; returns the augmented batch (a buffer it owns), never `batch` itself. */
export type BatchAugmenter = (batch: Float32Array, count: number, rng: Rng) => Float32Array;

/**
 * The augmentation the options ask for (random shift, then random flip), for batches of up to `batchSize` images
 * of `shape`; `undefined` when they ask for none.
 */
export function batchAugmenter(
  options: { augmentShift?: number; augmentFlip?: boolean },
  shape: readonly [number, number, number],
  batchSize: number,
): BatchAugmenter | undefined {
  const shift = options.augmentShift ?? 0;
  if (shift === 0 && !options.augmentFlip) return undefined;
  const size = shape[0] * shape[1] * shape[2];
  const out = new Float32Array(batchSize * size);
  return (batch, count, rng) => {
    if (shift > 0) shiftImages(batch, out, count, shape, shift, rng);
    else out.set(batch.subarray(0, count * size));
    if (options.augmentFlip) flipImages(out, count, shape, rng);
    return out;
  };
}
