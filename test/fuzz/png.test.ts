import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { decodeInputBytes, decodePngInput, encodePng, PNG_SIGNATURE, type InputShape } from '../../src/data/png.ts';
import { writeIdx } from '../../src/data/idx.ts';
import { assertTyped, mutated, named, Outcomes, params, randomBytes, runs, typedOrValid } from './fuzz.ts';

const PNG_CODES = ['DATA_BAD_PNG', 'DATA_INPUT_SHAPE'];
const INPUT_CODES = [
  ...PNG_CODES,
  'DATA_UNKNOWN_FORMAT',
  'DATA_IDX_BAD_GZIP',
  'DATA_IDX_BAD_MAGIC',
  'DATA_IDX_TRUNCATED',
  'DATA_IDX_TRAILING_BYTES',
  'DATA_IDX_BAD_DTYPE',
  'DATA_INFLATE_TOO_LARGE',
];

const SHAPES: InputShape[] = [
  [4, 5, 1],
  [4, 5, 3],
  [4, 5, 4],
];

function sample(shape: InputShape): Float32Array {
  const n = shape[0] * shape[1] * shape[2];
  return Float32Array.from({ length: n }, (_, i) => ((i * 53) % 256) / 255);
}

/** PNGs as branchy writes them, and 16-bit and grey-with-alpha ones as other tools do. */
function validPngs(shape: InputShape): Uint8Array[] {
  const [h, w] = shape;
  const sixteen = new PNG({ width: w, height: h });
  sixteen.data.fill(200);
  const greyAlpha = new PNG({ width: w, height: h });
  greyAlpha.data.fill(77);
  return [
    encodePng(sample(shape), shape),
    new Uint8Array(PNG.sync.write(sixteen, { bitDepth: 16 })),
    new Uint8Array(PNG.sync.write(greyAlpha, { colorType: 4 })),
  ];
}

const BASES = SHAPES.map((shape) => ({ shape, pngs: validPngs(shape) }));

/** One network input of `shape`: the right count of values, each in [0, 1]. */
function checkInput(shape: InputShape) {
  return (x: Float32Array): void => {
    assert.equal(x.length, shape[0] * shape[1] * shape[2]);
    for (let i = 0; i < x.length; i++) assert.ok(x[i] >= 0 && x[i] <= 1, `value ${i} is ${x[i]}`);
  };
}

/** A PNG made chunk by chunk, with the CRC left as zeros: pngjs checks it, so only the IHDR pre-check can be tested this way. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length, false);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function ihdr(width: number, height: number, interlace = 0): Uint8Array {
  const data = new Uint8Array(13);
  const view = new DataView(data.buffer);
  view.setUint32(0, width, false);
  view.setUint32(4, height, false);
  data.set([8, 0, 0, 0, interlace], 8);
  return chunk('IHDR', data);
}

describe('fuzz: PNG input decoder', () => {
  const CI = runs(800);
  it(named('random bytes behind the PNG signature give DATA_BAD_PNG or DATA_INPUT_SHAPE', CI), () => {
    const outcomes = new Outcomes();
    const signature = Uint8Array.from(PNG_SIGNATURE);
    fc.assert(
      fc.property(randomBytes([signature, concat([signature, ihdr(5, 4)])], 256), fc.constantFrom(...SHAPES), (bytes, shape) => {
        outcomes.add(typedOrValid(() => decodePngInput(bytes, 'fuzz.png', shape), checkInput(shape), PNG_CODES));
      }),
      params(CI),
    );
    assert.ok(outcomes.has('DATA_BAD_PNG'), String(outcomes));
  });

  it(named('valid PNGs with mutated chunks give a typed error or an input of the right size in [0, 1]', CI), () => {
    const outcomes = new Outcomes();
    const cases = fc.constantFrom(...BASES).chain(({ shape, pngs }) => fc.tuple(fc.constant(shape), mutated(fc.constantFrom(...pngs))));
    fc.assert(
      fc.property(cases, ([shape, bytes]) => {
        outcomes.add(typedOrValid(() => decodePngInput(bytes, 'fuzz.png', shape), checkInput(shape), PNG_CODES));
      }),
      params(CI),
    );
    assert.ok(outcomes.has('ok') && outcomes.has('DATA_BAD_PNG'), String(outcomes));
  });

  it(named('input files (PNG, IDX raw or gzipped, anything else) give a typed error or samples of the shape', CI), () => {
    const outcomes = new Outcomes();
    const shape: InputShape = [4, 5, 1];
    const idx = writeIdx(
      Array.from({ length: 3 * 20 }, (_, i) => i % 256),
      [3, 4, 5],
      'ubyte',
    );
    const bases = [...validPngs(shape), idx, writeIdx(new Float32Array(20).fill(0.5), [4, 5], 'float')];
    fc.assert(
      fc.property(fc.oneof(mutated(fc.constantFrom(...bases)), randomBytes([], 64)), (bytes) => {
        outcomes.add(
          typedOrValid(
            () => decodeInputBytes(bytes, 'fuzz.input', shape),
            (samples) => {
              assert.ok(samples.length >= 1);
              for (const s of samples) assert.equal(s.length, 20);
            },
            INPUT_CODES,
          ),
        );
      }),
      params(CI),
    );
    assert.ok(outcomes.has('ok') && outcomes.has('DATA_UNKNOWN_FORMAT'), String(outcomes));
  });
});

describe('PNG input decoder: regressions found by fuzzing', () => {
  it('an IHDR claiming 65535 × 65535 pixels is refused from the header, before anything is inflated', () => {
    const bytes = concat([
      Uint8Array.from(PNG_SIGNATURE),
      ihdr(65535, 65535),
      chunk('IDAT', new Uint8Array(deflateSync(new Uint8Array(100)))),
      chunk('IEND', new Uint8Array(0)),
    ]);
    try {
      decodePngInput(bytes, 'huge.png', [28, 28, 1]);
      assert.fail('expected a refusal');
    } catch (error) {
      assertTyped(error, ['DATA_INPUT_SHAPE']);
      assert.match(error.message, /65535×65535/);
    }
  });

  it('an interlaced PNG whose image data inflates far past its size is refused with DATA_BAD_PNG', () => {
    const bytes = concat([
      Uint8Array.from(PNG_SIGNATURE),
      ihdr(5, 4, 1),
      chunk('IDAT', new Uint8Array(deflateSync(new Uint8Array(1 << 20)))),
      chunk('IEND', new Uint8Array(0)),
    ]);
    try {
      decodePngInput(bytes, 'bomb.png', [4, 5, 1]);
      assert.fail('expected a refusal');
    } catch (error) {
      assertTyped(error, ['DATA_BAD_PNG']);
      assert.match(error.message, /inflates/);
    }
  });
});
