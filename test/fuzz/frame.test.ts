import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, FRAME_DTYPES, type DecodedFrame, type FrameDtype, type TensorEntry } from '../../src/io/frame.ts';
import { mutated, named, Outcomes, params, randomBytes, runs, typedOrValid } from './fuzz.ts';

const FRAME_CODES = ['FRAME_TOO_SHORT', 'FRAME_BAD_HEADER_LENGTH', 'FRAME_BAD_HEADER_JSON', 'FRAME_BAD_DTYPE', 'FRAME_BAD_SHAPE', 'FRAME_BAD_OFFSETS'];

const ELEMENT_BYTES: Record<FrameDtype, number> = { F32: 4, F64: 8, I32: 4, U8: 1, F16: 2, I8: 1 };
const TAGS: Record<FrameDtype, string> = {
  F32: 'Float32Array',
  F64: 'Float64Array',
  I32: 'Int32Array',
  U8: 'Uint8Array',
  F16: 'Uint16Array',
  I8: 'Int8Array',
};

function entry(dtype: FrameDtype, shape: number[], seed: number): TensorEntry {
  const n = shape.reduce((a, b) => a * b, 1);
  const bytes = Uint8Array.from({ length: n * ELEMENT_BYTES[dtype] }, (_, i) => (i * 37 + seed) & 0xff);
  const make = { F32: Float32Array, F64: Float64Array, I32: Int32Array, U8: Uint8Array, F16: Uint16Array, I8: Int8Array }[dtype];
  return { dtype, shape, data: new make(bytes.buffer) };
}

/** Valid frames: one tensor of every dtype, a scalar, an empty tensor and metadata, in a few combinations. */
const VALID: Uint8Array[] = [
  encodeFrame({ inputs: entry('F32', [1, 4, 4, 1], 1) }),
  encodeFrame(Object.fromEntries(FRAME_DTYPES.map((d, i) => [`t${i}.${d}`, entry(d, [2, 3], i)])), { kind: 'features', modelId: 'abc', stage: '1' }),
  encodeFrame({ scalar: entry('F64', [], 3), empty: entry('U8', [0, 5], 0), odd: entry('I8', [7], 9) }, { note: 'x' }),
  encodeFrame({}, { kind: 'probe' }),
];

/** A decoded frame is consistent: element counts match shapes, typed arrays match dtypes, and it encodes back the same. */
function checkDecoded(frame: DecodedFrame): void {
  for (const [name, t] of Object.entries(frame.tensors)) {
    assert.ok(FRAME_DTYPES.includes(t.dtype), name);
    assert.equal(
      t.data.length,
      t.shape.reduce((a, b) => a * b, 1),
      name,
    );
    assert.equal(Object.prototype.toString.call(t.data), `[object ${TAGS[t.dtype]}]`, name);
  }
  for (const value of Object.values(frame.metadata)) assert.equal(typeof value, 'string');
  const again = decodeFrame(encodeFrame(frame.tensors, frame.metadata));
  assert.deepEqual(Object.keys(again.tensors), Object.keys(frame.tensors));
  for (const [name, t] of Object.entries(frame.tensors)) {
    assert.deepEqual(again.tensors[name].shape, t.shape);
    assert.deepEqual(
      new Uint8Array(again.tensors[name].data.buffer, again.tensors[name].data.byteOffset, again.tensors[name].data.byteLength),
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    );
  }
}

/** A frame whose u64 length and JSON header are made by hand, so that header fields can be anything. */
function handmade(header: string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const headerEntry = fc.record({
  dtype: fc.oneof(fc.constantFrom(...FRAME_DTYPES), fc.string({ maxLength: 4 })),
  shape: fc.oneof(fc.array(fc.oneof(fc.nat({ max: 8 }), fc.constantFrom(-1, 0.5, 2 ** 32, 2 ** 53, 1e300)), { maxLength: 4 }), fc.constant('x')),
  data_offsets: fc.oneof(fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 80 })), fc.constant([0, 2 ** 53]), fc.constant([-8, 0]), fc.constant(null)),
});

describe('fuzz: tensor frame decoder', () => {
  const CI = runs(1500);
  it(named('random bytes give a FRAME_* error or a consistent frame', CI), () => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(randomBytes([Uint8Array.of(16, 0, 0, 0, 0, 0, 0, 0), Uint8Array.of(2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d)]), (bytes) => {
        outcomes.add(typedOrValid(() => decodeFrame(bytes), checkDecoded, FRAME_CODES));
      }),
      params(CI),
    );
    assert.ok(outcomes.size >= 3, String(outcomes));
  });

  it(named('valid frames with mutated bytes give a FRAME_* error or a consistent frame', CI), () => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(mutated(fc.constantFrom(...VALID)), (bytes) => {
        outcomes.add(typedOrValid(() => decodeFrame(bytes), checkDecoded, FRAME_CODES));
      }),
      params(CI),
    );
    assert.ok(outcomes.has('ok') && outcomes.size >= 5, String(outcomes));
  });

  it(named('headers with hostile fields give a FRAME_* error or a consistent frame', CI), () => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.oneof(fc.constantFrom('a', 'b', '__proto__', '__metadata__'), fc.string({ maxLength: 3 })),
          fc.oneof(headerEntry, fc.jsonValue({ maxDepth: 2 })),
          {
            maxKeys: 4,
          },
        ),
        fc.uint8Array({ maxLength: 80 }),
        (header, data) => {
          outcomes.add(typedOrValid(() => decodeFrame(handmade(JSON.stringify(header), data)), checkDecoded, FRAME_CODES));
        },
      ),
      params(CI),
    );
    assert.ok(outcomes.size >= 4, String(outcomes));
  });
});
