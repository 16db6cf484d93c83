/**
 * A drawing turned into an MNIST-style input: MNIST's digits were scaled to fit a 20×20 box, keeping their aspect
 * ratio, and placed in a 28×28 field with their centre of mass at its centre. A drawn digit prepared the same way
 * reads to the network like a test digit; a raw downscaled canvas does not (too small, off centre).
 *
 * @module
 */

/** How {@link digitInput} places the drawing. */
export interface DigitInputOptions {
  /** Side of the square input (default 28). */
  size?: number;
  /** Side of the box the drawing's longer side is scaled to (default 20). */
  box?: number;
  /** Ink below this (in [0, 1]) is background when finding the drawing's bounds (default 0.05). */
  background?: number;
}

/**
 * Turns ink coverage (`width × height` values in [0, 1], row-major; 1 is full ink) into a `size × size` input in
 * [0, 1], or `undefined` for an empty drawing. The drawing's bounding box is scaled by area averaging so that its
 * longer side spans `box` pixels, then shifted so that its centre of mass sits at the centre.
 */
export function digitInput(ink: ArrayLike<number>, width: number, height: number, options: DigitInputOptions = {}): Float32Array | undefined {
  const size = options.size ?? 28;
  const box = options.box ?? 20;
  const background = options.background ?? 0.05;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (ink[y * width + x] > background) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  if (x1 < 0) return undefined;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = box / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  const small = resample(ink, width, { x0, y0, bw, bh }, tw, th);

  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const v = small[y * tw + x];
      mass += v;
      mx += (x + 0.5) * v;
      my += (y + 0.5) * v;
    }
  const ox = Math.round(size / 2 - mx / mass);
  const oy = Math.round(size / 2 - my / mass);
  const out = new Float32Array(size * size);
  for (let y = 0; y < th; y++) {
    const ty = y + oy;
    if (ty < 0 || ty >= size) continue;
    for (let x = 0; x < tw; x++) {
      const tx = x + ox;
      if (tx >= 0 && tx < size) out[ty * size + tx] = Math.min(1, small[y * tw + x]);
    }
  }
  return out;
}

/** Area-averages the region `r` of a `width`-wide image into `tw × th` pixels. */
function resample(ink: ArrayLike<number>, width: number, r: { x0: number; y0: number; bw: number; bh: number }, tw: number, th: number): Float32Array {
  const out = new Float32Array(tw * th);
  const sx = r.bw / tw;
  const sy = r.bh / th;
  for (let ty = 0; ty < th; ty++) {
    const top = ty * sy;
    const bottom = top + sy;
    for (let tx = 0; tx < tw; tx++) {
      const left = tx * sx;
      const right = left + sx;
      let sum = 0;
      for (let y = Math.floor(top); y < Math.min(Math.ceil(bottom), r.bh); y++) {
        const wy = Math.min(bottom, y + 1) - Math.max(top, y);
        for (let x = Math.floor(left); x < Math.min(Math.ceil(right), r.bw); x++) {
          const wx = Math.min(right, x + 1) - Math.max(left, x);
          sum += wx * wy * ink[(r.y0 + y) * width + r.x0 + x];
        }
      }
      out[ty * tw + tx] = sum / (sx * sy);
    }
  }
  return out;
}
