import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseIdx, writeIdx, type IdxDtype, type IdxTensor } from '../../src/data/idx.ts';
import { assertTyped, mutated, named, Outcomes, params, randomBytes, runs, typedOrValid } from './fuzz.ts';

const IDX_CODES = ['DATA_IDX_BAD_GZIP', 'DATA_IDX_BAD_MAGIC', 'DATA_IDX_TRUNCATED', 'DATA_IDX_TRAILING_BYTES', 'DATA_INFLATE_TOO_LARGE'];

const DTYPES: IdxDtype[] = ['ubyte', 'byte', 'short', 'int', 'float', 'double'];
const RANGES: Record<IdxDtype, [number, number]> = {
  ubyte: [0, 255],
  byte: [-128, 127],
  short: [-300, 300],
  int: [-70000, 70000],
  float: [-2, 2],
  double: [-2, 2],
};

function valid(dtype: IdxDtype, dims: number[]): Uint8Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const [lo, hi] = RANGES[dtype];
  const values = Array.from({ length: n }, (_, i) =>
    dtype === 'float' || dtype === 'double' ? lo + ((i * 0.37) % (hi - lo)) : lo + ((i * 7919) % (hi - lo + 1)),
  );
  return writeIdx(values, dims, dtype);
}

/** Images and labels as MNIST ships them, and every other element type, small. */
const RAW: Uint8Array[] = [valid('ubyte', [3, 4, 4]), valid('ubyte', [5]), ...DTYPES.map((d, i) => valid(d, [2, 1 + i, 3])), valid('float', [0, 7])];
const GZIPPED = RAW.map((b) => new Uint8Array(gzipSync(b)));

/** A parse is consistent: the dims hold exactly the values, and writing them back gives the same number of bytes. */
function checkTensor(input: Uint8Array) {
  return (t: IdxTensor): void => {
    assert.equal(
      t.data.length,
      t.dims.reduce((a, b) => a * b, 1),
    );
    const again = parseIdx(writeIdx(t.data, t.dims, t.dtype), 'again');
    assert.deepEqual(again.dims, t.dims);
    assert.equal(again.data.length, t.data.length);
    if (!(input[0] === 0x1f && input[1] === 0x8b)) assert.equal(writeIdx(t.data, t.dims, t.dtype).length, input.length);
  };
}

const property = (bytes: Uint8Array, outcomes: Outcomes) => outcomes.add(typedOrValid(() => parseIdx(bytes, 'fuzz.idx'), checkTensor(bytes), IDX_CODES));

describe('fuzz: IDX decoder (raw and gzip)', () => {
  const CI = runs(1500);
  it(named('random bytes, some behind an IDX or gzip magic, give a DATA_IDX_* error or a consistent tensor', CI), () => {
    const outcomes = new Outcomes();
    const magics = [Uint8Array.of(0, 0, 8, 1), Uint8Array.of(0, 0, 0x0d, 2), Uint8Array.of(0, 0, 8, 0), Uint8Array.of(0x1f, 0x8b, 8, 0)];
    fc.assert(
      fc.property(randomBytes(magics), (bytes) => property(bytes, outcomes)),
      params(CI),
    );
    assert.ok(outcomes.size >= 3, String(outcomes));
  });

  it(named('valid IDX files with mutated headers and data give a DATA_IDX_* error or a consistent tensor', CI), () => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(mutated(fc.constantFrom(...RAW)), (bytes) => property(bytes, outcomes)),
      params(CI),
    );
    assert.ok(outcomes.has('ok') && outcomes.has('DATA_IDX_TRUNCATED') && outcomes.has('DATA_IDX_TRAILING_BYTES'), String(outcomes));
  });

  it(named('gzipped IDX files, mutated before or after compression, give a DATA_IDX_* error or a consistent tensor', CI), () => {
    const outcomes = new Outcomes();
    const inside = mutated(fc.constantFrom(...RAW)).map((b) => new Uint8Array(gzipSync(b)));
    fc.assert(
      fc.property(fc.oneof(inside, mutated(fc.constantFrom(...GZIPPED))), (bytes) => property(bytes, outcomes)),
      params(CI),
    );
    assert.ok(outcomes.has('ok') && outcomes.has('DATA_IDX_BAD_GZIP'), String(outcomes));
  });
});

describe('IDX decoder: regressions found by fuzzing', () => {
  it('dims whose product overflows to Infinity next to a zero dim are refused, not read as an empty tensor', () => {
    // 40 dims of 0xffffffff and one 0: the float product is Infinity × 0 = NaN, which passed both length checks.
    const dims = [...new Array<number>(40).fill(0xffffffff), 0];
    const bytes = new Uint8Array(4 + 4 * dims.length + 3);
    bytes[2] = 0x08;
    bytes[3] = dims.length;
    dims.forEach((d, i) => new DataView(bytes.buffer).setUint32(4 + 4 * i, d, false));
    assert.throws(() => parseIdx(bytes, 'x.idx'), { code: 'DATA_IDX_TRAILING_BYTES' });
    const exact = bytes.subarray(0, bytes.length - 3);
    assert.deepEqual(parseIdx(exact, 'x.idx').data.length, 0);
  });

  it('a gzip stream that inflates past the stated maximum is refused with DATA_INFLATE_TOO_LARGE', () => {
    const bomb = new Uint8Array(gzipSync(new Uint8Array(1 << 20)));
    try {
      parseIdx(bomb, 'bomb.gz', { maxInflatedBytes: 1 << 16 });
      assert.fail('expected a refusal');
    } catch (error) {
      assertTyped(error, ['DATA_INFLATE_TOO_LARGE']);
      assert.match(error.message, /bomb\.gz.*65536/);
    }
  });
});
