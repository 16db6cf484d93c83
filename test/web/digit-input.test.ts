import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digitInput } from '../../src/web/digit-input.ts';

/** A `size × size` canvas with a filled rectangle [x0, x1) × [y0, y1). */
function canvas(size: number, x0: number, y0: number, x1: number, y1: number): Float32Array {
  const ink = new Float32Array(size * size);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ink[y * size + x] = 1;
  return ink;
}

function bounds(img: Float32Array, size: number) {
  let x0 = size;
  let x1 = -1;
  let y0 = size;
  let y1 = -1;
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const v = img[y * size + x];
      if (v > 0) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
      mass += v;
      mx += (x + 0.5) * v;
      my += (y + 0.5) * v;
    }
  return { width: x1 - x0 + 1, height: y1 - y0 + 1, cx: mx / mass, cy: my / mass, mass };
}

describe('a drawing as an MNIST-style input', () => {
  it('is undefined for an empty drawing', () => {
    assert.equal(digitInput(new Float32Array(280 * 280), 280, 280), undefined);
  });

  it("scales the drawing's longer side to 20 pixels, keeping its aspect ratio", () => {
    const img = digitInput(canvas(280, 100, 40, 140, 240), 280, 280)!;
    assert.equal(img.length, 784);
    const b = bounds(img, 28);
    assert.equal(b.height, 20);
    assert.equal(b.width, 4, 'a 40 × 200 stroke becomes 4 × 20');
  });

  it('puts the centre of mass at the centre, wherever the drawing was', () => {
    for (const [x0, y0] of [
      [0, 0],
      [200, 180],
      [10, 150],
    ]) {
      const b = bounds(digitInput(canvas(280, x0, y0, x0 + 70, y0 + 90), 280, 280)!, 28);
      assert.ok(Math.abs(b.cx - 14) <= 0.5 && Math.abs(b.cy - 14) <= 0.5, `drawn at ${x0},${y0}: centre ${b.cx}, ${b.cy}`);
    }
  });

  it('averages areas, so that ink stays in [0, 1] and its amount scales with the area', () => {
    const img = digitInput(canvas(280, 50, 50, 250, 250), 280, 280)!;
    assert.ok(img.every((v) => v >= 0 && v <= 1));
    assert.ok(Math.abs(bounds(img, 28).mass - 400) < 1e-3, 'a full 200 × 200 square is 20 × 20 of full ink');
  });

  it('fits other input sizes and boxes', () => {
    const img = digitInput(canvas(100, 10, 10, 90, 50), 100, 100, { size: 32, box: 24 })!;
    assert.equal(img.length, 32 * 32);
    assert.equal(bounds(img, 32).width, 24);
  });
});
