/**
 * IEEE-754 binary16 ("half") conversion by bit arithmetic, for runtimes without `Float16Array` (Node 20).
 * Browser-safe.
 *
 * @module
 */

/** float32 bit pattern of 2^-14, the smallest normal half. */
const MIN_NORMAL_HALF_AS_F32 = 0x38800000;
/** float32 bit pattern of 2^16: at and above it (before rounding) every finite value is too large for a half. */
const HALF_OVERFLOW_AS_F32 = 0x47800000;
const F32_INFINITY = 0x7f800000;
/** Rebiases a float32 exponent (bias 127) to a half's (bias 15), in place in the bit pattern. */
const REBIAS = (127 - 15) << 23;

function halfBitsOf(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= HALF_OVERFLOW_AS_F32) {
    if (a <= F32_INFINITY) return sign | 0x7c00;
    // NaN: keep the top 10 payload bits (so that every half NaN survives a round trip); a payload that lived only
    // in the low 13 bits would vanish and turn NaN into Inf, so such a NaN becomes the quiet NaN.
    const payload = (a >>> 13) & 0x3ff;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  if (a >= MIN_NORMAL_HALF_AS_F32) {
    // Round to nearest, ties to even, on the 13 bits that are dropped: add just under half an ulp, plus one when
    // the kept mantissa is odd. A carry out of the mantissa bumps the exponent, which is right (and gives Inf
    // from 65520 up).
    return sign | ((a - REBIAS + 0xfff + ((a >>> 13) & 1)) >>> 13);
  }
  // Subnormal half (or zero): the value is m · 2^-24 with m = significand · 2^(e - 126), rounded to nearest even.
  const e = a >>> 23;
  const shift = 126 - e;
  // Below 2^-25 (shift > 24) the value is under half the smallest subnormal, 2^-24: it rounds to zero. This also
  // covers float32 zeros and subnormals (e = 0).
  if (shift > 24) return sign;
  const significand = (a & 0x7fffff) | 0x800000;
  let m = significand >>> shift;
  const rest = significand & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (m & 1) === 1)) m++;
  // m = 1024 is the smallest normal half, whose bit pattern is exactly 0x400: no special case.
  return sign | m;
}

/**
 * Converts float32 values to binary16 bit patterns, rounding to nearest (ties to even). Values beyond the largest
 * half (65504, or from 65520 once rounded) become ±Infinity, values below half the smallest subnormal (2^-25)
 * become ±0, and NaN stays NaN (with the top of its payload).
 *
 * @example
 * ```ts
 * float32ToFloat16Bits(new Float32Array([1, -2, 65504, 1e9])); // Uint16Array [0x3c00, 0xc000, 0x7bff, 0x7c00]
 * ```
 */
export function float32ToFloat16Bits(x: Float32Array): Uint16Array {
  // Read the float32 bits through a view of the same memory: exact, and it keeps NaN payloads.
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfBitsOf(bits[i]);
  return out;
}

/**
 * Converts binary16 bit patterns to float32 values. Exact: every half is a float32 (NaN payloads are kept).
 *
 * @example
 * ```ts
 * float16BitsToFloat32(new Uint16Array([0x3c00, 0x0001, 0xfc00])); // Float32Array [1, 2^-24, -Infinity]
 * ```
 */
export function float16BitsToFloat32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < h.length; i++) {
    const v = h[i];
    const sign = (v & 0x8000) << 16;
    const e = v & 0x7c00;
    const m = v & 0x3ff;
    if (e === 0x7c00) bits[i] = sign | F32_INFINITY | (m << 13);
    else if (e !== 0) bits[i] = sign | ((e << 13) + REBIAS) | (m << 13);
    else if (m === 0) bits[i] = sign;
    // Subnormal: m · 2^-24 is exact in float32.
    else out[i] = (sign === 0 ? m : -m) * 2 ** -24;
  }
  return out;
}
