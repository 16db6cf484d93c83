import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/common/rng.ts';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/cascade/float16.ts';

/** The value a half bit pattern stands for, straight from the IEEE-754 definition. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Every finite half ≥ 0 in increasing order; bit pattern = index. */
const POSITIVE_HALVES = Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));

/** The correctly rounded half of x, found by search over all halves: round to nearest, ties to the even pattern. */
function referenceHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // IEEE overflow: the result is Inf when rounding with an unbounded exponent would reach 2^16, i.e. from 65520.
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = POSITIVE_HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE_HALVES[mid] <= a) lo = mid;
    else hi = mid;
  }
  const below = a - POSITIVE_HALVES[lo];
  const above = POSITIVE_HALVES[hi] - a;
  const pick = below < above ? lo : above < below ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

const bitsOf = (x: Float32Array): Uint32Array => new Uint32Array(x.buffer, x.byteOffset, x.length);

describe('float16BitsToFloat32 / float32ToFloat16Bits', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, h) => h);

  it('decodes each of the 65,536 half bit patterns to the value IEEE-754 defines', () => {
    const decoded = float16BitsToFloat32(all);
    for (let h = 0; h < 65536; h++) {
      const want = halfValue(h);
      assert.ok(Object.is(decoded[h], want) || (Number.isNaN(want) && Number.isNaN(decoded[h])), `0x${h.toString(16)}: ${decoded[h]} ≠ ${want}`);
    }
  });

  it('re-encodes every one of the 65,536 half bit patterns to itself (NaN payloads and -0 included)', () => {
    const again = float32ToFloat16Bits(float16BitsToFloat32(all));
    for (let h = 0; h < 65536; h++) assert.equal(again[h], h, `0x${h.toString(16)} came back as 0x${again[h].toString(16)}`);
  });

  it('encodes known values', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // the tie between 65504 (odd) and 2^16 goes to Inf
      [65536, 0x7c00],
      [1e9, 0x7c00],
      [-1e9, 0xfc00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 and 2^-24 goes to 0
      [Math.fround(2 ** -25 * (1 + 2 ** -23)), 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 ulps goes to 2
      [1023.5 * 2 ** -24, 0x0400], // tie at the top of the subnormals goes to the smallest normal
      [1 + 2 ** -11, 0x3c00], // tie goes to the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02],
      [1e-45, 0x0000], // a float32 subnormal
      [-1e-45, 0x8000],
      [-(2 ** -26), 0x8000],
    ];
    const got = float32ToFloat16Bits(Float32Array.from(cases, ([x]) => x));
    cases.forEach(([x, want], i) => assert.equal(got[i], want, `${x} → 0x${got[i].toString(16)}, expected 0x${want.toString(16)}`));
  });

  it('keeps NaN a NaN, even one whose payload lies only in the bits a half drops', () => {
    const x = new Float32Array(4);
    bitsOf(x).set([0x7fc00000, 0xffc00000, 0x7f800001, 0xff800fff]);
    const h = float32ToFloat16Bits(x);
    assert.deepEqual([...h], [0x7e00, 0xfe00, 0x7e00, 0xfe00]);
    assert.ok([...float16BitsToFloat32(h)].every(Number.isNaN));
  });

  it('rounds every midpoint between neighbouring halves, and the floats either side of it, as the reference does', () => {
    const xs: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      // A midpoint has 12 significant bits: exact in float32.
      const mid = (POSITIVE_HALVES[h] + POSITIVE_HALVES[h + 1]) / 2;
      xs.push(mid, -mid);
    }
    const mids = Float32Array.from(xs);
    const below = mids.slice();
    const above = mids.slice();
    // One float32 ulp towards zero and away from it (magnitudes only, so the sign stays).
    const belowBits = bitsOf(below);
    const aboveBits = bitsOf(above);
    for (let i = 0; i < mids.length; i++) {
      if ((belowBits[i] & 0x7fffffff) !== 0) belowBits[i]--;
      aboveBits[i]++;
    }
    for (const x of [mids, below, above]) {
      const got = float32ToFloat16Bits(x);
      for (let i = 0; i < x.length; i++) assert.equal(got[i], referenceHalf(x[i]), `${x[i]} → 0x${got[i].toString(16)}`);
    }
  });

  it('rounds 200,000 random float32 bit patterns (all exponents) as the reference does', () => {
    const rng = new Rng(716);
    const x = new Float32Array(200_000);
    const bits = bitsOf(x);
    for (let i = 0; i < bits.length; i++) bits[i] = (rng.int(0x10000) << 16) | rng.int(0x10000);
    const got = float32ToFloat16Bits(x);
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i])) assert.equal(got[i] & 0x7c00, 0x7c00, `NaN → 0x${got[i].toString(16)}`);
      else assert.equal(got[i], referenceHalf(x[i]), `${x[i]} (0x${bits[i].toString(16)}) → 0x${got[i].toString(16)}`);
    }
  });

  it('reads a Float32Array that is a view into a larger buffer', () => {
    const backing = new Float32Array([9, 1, -2, 9]);
    assert.deepEqual([...float32ToFloat16Bits(backing.subarray(1, 3))], [0x3c00, 0xc000]);
    assert.deepEqual([...float16BitsToFloat32(new Uint16Array([7, 0x3c00, 7]).subarray(1, 2))], [1]);
  });
});
