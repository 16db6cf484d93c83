import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchyArgumentError, BranchyIoError } from '../../src/common/errors.ts';
import { Rng } from '../../src/common/rng.ts';
import { decodeFrame, encodeFrame, frameByteLength, MAX_FRAME_HEADER_BYTES, type TensorEntry } from '../../src/io/frame.ts';

const sample = (): Record<string, TensorEntry> => ({
  'dense1.kernel': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, -0, 1e-30]) },
  bytes: { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
  labels: { dtype: 'I32', shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
  wide: { dtype: 'F64', shape: [1, 2], data: new Float64Array([Math.PI, -1e300]) },
  empty: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
  emptyMatrix: { dtype: 'F64', shape: [3, 0], data: new Float64Array(0) },
  scalar: { dtype: 'F64', shape: [], data: new Float64Array([42]) },
  odd: { dtype: 'U8', shape: [3], data: new Uint8Array([9, 8, 7]) },
});

/** Builds a frame from a header object and data bytes, exactly as the format describes, without the encoder. */
function rawFrame(header: unknown, data: number[] | Uint8Array = [], headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = headerLength ?? json.length;
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function throwsIo(fn: () => unknown, code: string, includes: string[] = []): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BranchyIoError, `expected BranchyIoError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const s of includes) assert.ok(e.message.includes(s), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(s)}`);
    return true;
  });
}

describe('encodeFrame / decodeFrame', () => {
  it('round-trips several tensors, incl. empty and scalar ones, and metadata', () => {
    const input = sample();
    const meta = { format: 'branchy-weights', note: 'ünïcødé ✓', '': 'empty key' };
    const { tensors, metadata } = decodeFrame(encodeFrame(input, meta));
    assert.deepEqual(Object.keys(tensors), Object.keys(input));
    for (const [name, t] of Object.entries(input)) {
      assert.equal(tensors[name].dtype, t.dtype, name);
      assert.deepEqual(tensors[name].shape, t.shape, name);
      assert.equal(tensors[name].data.constructor, t.data.constructor, name);
      assert.deepEqual([...tensors[name].data], [...t.data], name);
    }
    assert.ok(Object.is(tensors['dense1.kernel'].data[4], -0));
    assert.deepEqual(metadata, meta);
  });

  it('round-trips an empty frame and omits absent metadata', () => {
    const bytes = encodeFrame({});
    assert.equal(bytes.length, 16);
    assert.deepEqual(decodeFrame(bytes), { tensors: {}, metadata: {} });
    assert.ok(!new TextDecoder().decode(encodeFrame(sample())).includes('__metadata__'));
  });

  it('keeps odd names as plain data (no prototype pollution)', () => {
    const input: Record<string, TensorEntry> = {};
    Object.defineProperty(input, '__proto__', {
      value: { dtype: 'U8', shape: [1], data: new Uint8Array([7]) },
      enumerable: true,
    });
    const { tensors } = decodeFrame(encodeFrame(input));
    assert.deepEqual(Object.keys(tensors), ['__proto__']);
    assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
    assert.deepEqual([...tensors['__proto__'].data], [7]);
  });

  it('starts the data section at a multiple of 8 and aligns every tensor for its type', () => {
    for (const nameLength of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
      const bytes = encodeFrame({ ['x'.repeat(nameLength)]: { dtype: 'F64', shape: [1], data: new Float64Array([1]) } });
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal((8 + headerLength) % 8, 0);
      // The padding is trailing spaces.
      const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
      assert.match(header, /^\{.*\} *$/);
    }
    const bytes = encodeFrame(sample());
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
      string,
      { dtype: string; data_offsets: [number, number] }
    >;
    const size: Record<string, number> = { F64: 8, F32: 4, I32: 4, U8: 1 };
    for (const [name, e] of Object.entries(header)) {
      assert.equal(e.data_offsets[0] % size[e.dtype], 0, `${name} at ${e.data_offsets[0]}`);
    }
    // Aligned frames in their own buffer decode to views, not copies.
    const decoded = decodeFrame(bytes);
    assert.equal(decoded.tensors.wide.data.buffer, bytes.buffer);
  });

  it('copies tensors whose bytes are not aligned for their type', () => {
    const bytes = encodeFrame(sample());
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const { tensors } = decodeFrame(shifted);
    assert.notEqual(tensors.wide.data.buffer, shifted.buffer);
    assert.deepEqual([...tensors.wide.data], [Math.PI, -1e300]);
    assert.deepEqual([...tensors.labels.data], [-2147483648, 0, 2147483647]);
  });

  it('decodes a frame made by hand, byte by byte, and encodes the same bytes', () => {
    const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]}}';
    const padded = json + ' '.repeat(Math.ceil(json.length / 8) * 8 - json.length);
    const bytes = [
      ...[padded.length, 0, 0, 0, 0, 0, 0, 0], // u64 LE (length < 256)
      ...[...padded].map((c) => c.charCodeAt(0)),
      ...[0x00, 0x00, 0xc0, 0x3f], // 1.5f
      ...[0x00, 0x00, 0x00, 0xc0], // -2f
      ...[0x05, 0xfa],
    ];
    assert.ok(padded.length < 256);
    const frame = new Uint8Array(bytes);
    const { tensors, metadata } = decodeFrame(frame);
    assert.deepEqual(metadata, {});
    assert.deepEqual(Object.keys(tensors), ['w', 'b']);
    assert.equal(tensors.w.dtype, 'F32');
    assert.deepEqual(tensors.w.shape, [2]);
    assert.ok(tensors.w.data instanceof Float32Array);
    assert.deepEqual([...tensors.w.data], [1.5, -2]);
    assert.ok(tensors.b.data instanceof Uint8Array);
    assert.deepEqual([...tensors.b.data], [5, 250]);
    const encoded = encodeFrame({
      w: { dtype: 'F32', shape: [2], data: new Float32Array([1.5, -2]) },
      b: { dtype: 'U8', shape: [2], data: new Uint8Array([5, 250]) },
    });
    assert.deepEqual([...encoded], bytes);
  });

  it('accepts a frame without padding (other safetensors writers)', () => {
    const f = rawFrame({ a: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, [1, 0, 0, 0]);
    assert.deepEqual([...decodeFrame(f).tensors.a.data], [1]);
  });
});

describe('encodeFrame argument errors', () => {
  const throwsArg = (fn: () => unknown, code: string): void => assert.throws(fn, (e: unknown) => e instanceof BranchyArgumentError && e.code === code);

  it('rejects a typed array that does not match the dtype', () => {
    throwsArg(() => encodeFrame({ a: { dtype: 'F64', shape: [1], data: new Float32Array(1) } }), 'FRAME_DTYPE_MISMATCH');
    throwsArg(() => encodeFrame({ a: { dtype: 'U8', shape: [1], data: new Int32Array(1) } }), 'FRAME_DTYPE_MISMATCH');
  });
  it('rejects unknown dtypes, bad shapes, reserved names and non-string metadata', () => {
    throwsArg(() => encodeFrame({ a: { dtype: 'I64' as 'F32', shape: [1], data: new Float32Array(1) } }), 'FRAME_BAD_DTYPE');
    throwsArg(() => encodeFrame({ a: { dtype: 'F32', shape: [2], data: new Float32Array(1) } }), 'FRAME_BAD_SHAPE');
    throwsArg(() => encodeFrame({ a: { dtype: 'F32', shape: [-1], data: new Float32Array(1) } }), 'FRAME_BAD_SHAPE');
    throwsArg(() => encodeFrame({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), 'FRAME_BAD_NAME');
    throwsArg(() => encodeFrame({}, { a: 1 as unknown as string }), 'FRAME_BAD_METADATA');
  });
});

describe('decodeFrame validation', () => {
  const entry = (o: Record<string, unknown> = {}): Record<string, unknown> => ({
    dtype: 'F32',
    shape: [2],
    data_offsets: [0, 8],
    ...o,
  });
  const data8 = [0, 0, 128, 63, 0, 0, 0, 64];

  it('FRAME_TOO_SHORT', () => {
    throwsIo(() => decodeFrame(new Uint8Array(5), 'w.bin'), 'FRAME_TOO_SHORT', ['w.bin', '5 bytes']);
    throwsIo(() => decodeFrame(new Uint8Array(0)), 'FRAME_TOO_SHORT', ['frame']);
  });

  it('FRAME_BAD_HEADER_LENGTH', () => {
    throwsIo(() => decodeFrame(rawFrame({}, [], 1000), 'w.bin'), 'FRAME_BAD_HEADER_LENGTH', ['w.bin', '1000']);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, BigInt(MAX_FRAME_HEADER_BYTES) + 1n, true);
    throwsIo(() => decodeFrame(huge), 'FRAME_BAD_HEADER_LENGTH', [String(MAX_FRAME_HEADER_BYTES + 1)]);
    new DataView(huge.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    throwsIo(() => decodeFrame(huge), 'FRAME_BAD_HEADER_LENGTH', ['18446744073709551615']);
  });

  it('FRAME_BAD_HEADER_JSON', () => {
    const text = (s: string): Uint8Array => {
      const j = new TextEncoder().encode(s);
      const out = new Uint8Array(8 + j.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
      out.set(j, 8);
      return out;
    };
    throwsIo(() => decodeFrame(text('{"a": '), 'w.bin'), 'FRAME_BAD_HEADER_JSON', ['w.bin', '{\\"a\\": ']);
    throwsIo(() => decodeFrame(text('')), 'FRAME_BAD_HEADER_JSON');
    throwsIo(() => decodeFrame(text('[1,2]')), 'FRAME_BAD_HEADER_JSON', ['[1,2]']);
    throwsIo(() => decodeFrame(text('null')), 'FRAME_BAD_HEADER_JSON');
    throwsIo(() => decodeFrame(rawFrame({ a: 5 })), 'FRAME_BAD_HEADER_JSON', ['"a"', '5']);
    throwsIo(() => decodeFrame(rawFrame({ __metadata__: { k: 1 } })), 'FRAME_BAD_HEADER_JSON', ['"k"']);
    throwsIo(() => decodeFrame(rawFrame({ __metadata__: 'x' })), 'FRAME_BAD_HEADER_JSON');
    const badUtf8 = text('{"a":"xx"}');
    badUtf8[14] = 0xff;
    throwsIo(() => decodeFrame(badUtf8), 'FRAME_BAD_HEADER_JSON', ['UTF-8']);
  });

  it('FRAME_BAD_DTYPE lists the supported dtypes', () => {
    throwsIo(() => decodeFrame(rawFrame({ a: entry({ dtype: 'BF16' }) }, data8)), 'FRAME_BAD_DTYPE', ['"BF16"', 'F32, F64, I32, U8']);
    throwsIo(() => decodeFrame(rawFrame({ a: entry({ dtype: undefined }) }, data8)), 'FRAME_BAD_DTYPE');
    throwsIo(() => decodeFrame(rawFrame({ a: entry({ dtype: 'toString' }) }, data8)), 'FRAME_BAD_DTYPE');
  });

  it('FRAME_BAD_SHAPE', () => {
    for (const shape of [[-2], [2.5], ['2'], 2, null, [1e300]]) {
      throwsIo(() => decodeFrame(rawFrame({ a: entry({ shape }) }, data8)), 'FRAME_BAD_SHAPE');
    }
    throwsIo(() => decodeFrame(rawFrame({ a: entry({ shape: [3] }) }, data8)), 'FRAME_BAD_SHAPE', ['[3]', '12 bytes', 'span 8']);
    throwsIo(() => decodeFrame(rawFrame({ a: entry({ shape: [2 ** 40, 2 ** 40] }) }, data8)), 'FRAME_BAD_SHAPE');
  });

  it('FRAME_BAD_OFFSETS', () => {
    // outside the data section
    throwsIo(() => decodeFrame(rawFrame({ a: entry({ data_offsets: [0, 16] }) }, data8)), 'FRAME_BAD_OFFSETS', ['[0,16]', '8']);
    // malformed
    for (const data_offsets of [[8, 0], [0], [-1, 7], [0, 8.5], '0,8', null]) {
      throwsIo(() => decodeFrame(rawFrame({ a: entry({ data_offsets }) }, data8)), 'FRAME_BAD_OFFSETS');
    }
    // overlapping
    throwsIo(
      () => decodeFrame(rawFrame({ a: entry(), b: entry({ dtype: 'U8', shape: [4], data_offsets: [4, 8] }) }, [...data8, 1, 2, 3, 4])),
      'FRAME_BAD_OFFSETS',
      ['overlap', '"a"', '"b"'],
    );
    // a gap between tensors
    throwsIo(
      () => decodeFrame(rawFrame({ a: entry(), b: entry({ dtype: 'U8', shape: [2], data_offsets: [10, 12] }) }, [...data8, 1, 2, 3, 4])),
      'FRAME_BAD_OFFSETS',
      ['[8, 10)'],
    );
    // trailing bytes nobody owns
    throwsIo(() => decodeFrame(rawFrame({ a: entry() }, [...data8, 0])), 'FRAME_BAD_OFFSETS', ['9 bytes']);
    throwsIo(() => decodeFrame(rawFrame({}, [0])), 'FRAME_BAD_OFFSETS');
    // empty tensors at a tensor boundary are fine
    const ok = decodeFrame(rawFrame({ a: entry(), e: entry({ shape: [0], data_offsets: [8, 8] }), z: entry({ shape: [0, 4], data_offsets: [0, 0] }) }, data8));
    assert.deepEqual([...ok.tensors.a.data], [1, 2]);
    assert.equal(ok.tensors.e.data.length, 0);
  });
});

describe('decodeFrame fuzz', () => {
  it('2,000 random mutations and truncations only ever throw BranchyIoError', { timeout: 30_000 }, () => {
    const rng = new Rng(20240611);
    const valid = encodeFrame(sample(), { format: 'test' });
    const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
    const counts: Record<string, number> = { ok: 0 };
    for (let round = 0; round < 2000; round++) {
      let bytes: Uint8Array = valid.slice();
      const kind = rng.int(6);
      if (kind === 0) {
        bytes = bytes.slice(0, rng.int(bytes.length));
      } else if (kind === 1) {
        // flip bytes anywhere
        for (let k = 1 + rng.int(4); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
      } else if (kind === 2) {
        // flip bytes in the header, where structure lives
        for (let k = 1 + rng.int(3); k > 0; k--) bytes[8 + rng.int(headerLength)] = rng.int(256);
      } else if (kind === 3) {
        // replace a header character with a JSON-significant one
        const chars = '{}[],:"0123456789-.e ';
        bytes[8 + rng.int(headerLength)] = chars.charCodeAt(rng.int(chars.length));
      } else if (kind === 4) {
        // corrupt the length field
        bytes[rng.int(8)] = rng.int(256);
      } else {
        // insert or delete a run of bytes
        const at = rng.int(bytes.length);
        const n = 1 + rng.int(16);
        const out = new Uint8Array(rng.next() < 0.5 ? bytes.length + n : Math.max(0, bytes.length - n));
        if (out.length > bytes.length) {
          out.set(bytes.subarray(0, at));
          out.set(bytes.subarray(at), at + n);
        } else {
          out.set(bytes.subarray(0, Math.min(at, out.length)));
          out.set(bytes.subarray(at + n).subarray(0, out.length - Math.min(at, out.length)), Math.min(at, out.length));
        }
        bytes = out;
      }
      try {
        const { tensors } = decodeFrame(bytes, 'fuzz');
        // Whatever decodes must be self-consistent.
        for (const t of Object.values(tensors)) {
          assert.equal(
            t.data.length,
            t.shape.reduce((a, b) => a * b, 1),
          );
        }
        counts.ok++;
      } catch (e) {
        if (!(e instanceof BranchyIoError)) {
          assert.fail(`round ${round} (kind ${kind}) threw ${String(e)}`);
        }
        counts[e.code] = (counts[e.code] ?? 0) + 1;
      }
    }
    // The mutations must actually reach the deeper checks, not just the first ones.
    for (const code of ['FRAME_TOO_SHORT', 'FRAME_BAD_HEADER_LENGTH', 'FRAME_BAD_HEADER_JSON', 'FRAME_BAD_OFFSETS']) {
      assert.ok((counts[code] ?? 0) > 0, `no ${code} in ${JSON.stringify(counts)}`);
    }
  });
});

describe('F16 and I8 tensors', () => {
  const halves = new Uint16Array([0x0000, 0x8000, 0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0xffff]);
  const bytesI8 = new Int8Array([-128, -1, 0, 1, 127]);

  it('round-trip next to the other dtypes: F16 as Uint16Array bit patterns (NaN payloads kept), I8 as Int8Array', () => {
    const input: Record<string, TensorEntry> = {
      ...sample(),
      half: { dtype: 'F16', shape: [11], data: halves },
      signed: { dtype: 'I8', shape: [5, 1], data: bytesI8 },
      halfScalar: { dtype: 'F16', shape: [], data: new Uint16Array([0x3555]) },
      halfEmpty: { dtype: 'F16', shape: [0, 2], data: new Uint16Array(0) },
    };
    const { tensors } = decodeFrame(encodeFrame(input, { k: 'v' }));
    assert.deepEqual(Object.keys(tensors), Object.keys(input));
    for (const [name, t] of Object.entries(input)) {
      assert.equal(tensors[name].dtype, t.dtype, name);
      assert.deepEqual(tensors[name].shape, t.shape, name);
      assert.equal(tensors[name].data.constructor, t.data.constructor, name);
      assert.deepEqual([...tensors[name].data], [...t.data], name);
    }
  });

  it('lays out F16 after the 4- and 8-byte types and before the 1-byte ones, so every tensor stays aligned', () => {
    const bytes = encodeFrame({
      signed: { dtype: 'I8', shape: [3], data: new Int8Array([1, 2, 3]) },
      half: { dtype: 'F16', shape: [3], data: new Uint16Array([1, 2, 3]) },
      single: { dtype: 'F32', shape: [1], data: new Float32Array([1]) },
      wide: { dtype: 'F64', shape: [1], data: new Float64Array([1]) },
    });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { data_offsets: [number, number] }>;
    assert.deepEqual(header.wide.data_offsets, [0, 8]);
    assert.deepEqual(header.single.data_offsets, [8, 12]);
    assert.deepEqual(header.half.data_offsets, [12, 18]);
    assert.deepEqual(header.signed.data_offsets, [18, 21]);
    assert.equal(decodeFrame(bytes).tensors.half.data.buffer, bytes.buffer);
  });

  it('decodes hand-made F16 and I8 bytes (little-endian halves, two’s-complement bytes)', () => {
    const f = rawFrame(
      { h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, i: { dtype: 'I8', shape: [3], data_offsets: [4, 7] } },
      [0x00, 0x3c, 0x00, 0xc0, 0xff, 0x80, 0x7f],
    );
    const { tensors } = decodeFrame(f);
    assert.ok(tensors.h.data instanceof Uint16Array);
    assert.deepEqual([...tensors.h.data], [0x3c00, 0xc000]);
    assert.ok(tensors.i.data instanceof Int8Array);
    assert.deepEqual([...tensors.i.data], [-1, -128, 127]);
  });

  it('copies a F16 tensor that sits at an odd offset (another writer’s layout)', () => {
    const f = rawFrame(
      { b: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, h: { dtype: 'F16', shape: [2], data_offsets: [1, 5] } },
      [9, 0x00, 0x3c, 0x01, 0x80],
    );
    const { tensors } = decodeFrame(f);
    assert.ok(tensors.h.data instanceof Uint16Array);
    assert.deepEqual([...tensors.h.data], [0x3c00, 0x8001]);
  });

  it('FRAME_BAD_SHAPE when the byte span does not fit 2 bytes per F16 or 1 per I8', () => {
    const f16 = (shape: number[], end: number) => rawFrame({ h: { dtype: 'F16', shape, data_offsets: [0, end] } }, new Uint8Array(end));
    throwsIo(() => decodeFrame(f16([3], 4)), 'FRAME_BAD_SHAPE', ['[3]', '2-byte F16 = 6 bytes', 'span 4']);
    throwsIo(() => decodeFrame(f16([2], 3)), 'FRAME_BAD_SHAPE', ['4 bytes', 'span 3']);
    throwsIo(() => decodeFrame(f16([4], 4)), 'FRAME_BAD_SHAPE', ['8 bytes', 'span 4']);
    const i8 = rawFrame({ i: { dtype: 'I8', shape: [2, 2], data_offsets: [0, 3] } }, [1, 2, 3]);
    throwsIo(() => decodeFrame(i8), 'FRAME_BAD_SHAPE', ['1-byte I8 = 4 bytes', 'span 3']);
  });

  it('FRAME_BAD_DTYPE names the new dtypes among the supported ones; lower-case names are not dtypes', () => {
    const f = (dtype: string) => rawFrame({ a: { dtype, shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0]);
    throwsIo(() => decodeFrame(f('BF16')), 'FRAME_BAD_DTYPE', ['F32, F64, I32, U8, F16, I8']);
    throwsIo(() => decodeFrame(f('f16')), 'FRAME_BAD_DTYPE', ['"f16"']);
    throwsIo(() => decodeFrame(f('int8')), 'FRAME_BAD_DTYPE', ['"int8"']);
  });

  it('encodeFrame refuses a F16 tensor whose data is not a Uint16Array, and an I8 one whose data is not an Int8Array', () => {
    const mismatch = (entry: TensorEntry, includes: string[]) =>
      assert.throws(
        () => encodeFrame({ a: entry }),
        (e: unknown) => e instanceof BranchyArgumentError && e.code === 'FRAME_DTYPE_MISMATCH' && includes.every((s) => e.message.includes(s)),
      );
    mismatch({ dtype: 'F16', shape: [2], data: new Uint8Array(2) }, ['F16', 'Uint8Array', 'expected a Uint16Array']);
    mismatch({ dtype: 'F16', shape: [2], data: new Float32Array(2) }, ['Float32Array', 'expected a Uint16Array']);
    mismatch({ dtype: 'F16', shape: [2], data: new Int16Array(2) as unknown as Uint16Array }, ['Int16Array']);
    mismatch({ dtype: 'I8', shape: [2], data: new Uint8Array(2) }, ['I8', 'Uint8Array', 'expected a Int8Array']);
    mismatch({ dtype: 'U8', shape: [2], data: new Int8Array(2) }, ['U8', 'Int8Array', 'expected a Uint8Array']);
    mismatch({ dtype: 'I32', shape: [2], data: new Uint16Array(2) }, ['Uint16Array', 'expected a Int32Array']);
    assert.throws(
      () => encodeFrame({ a: { dtype: 'F16', shape: [3], data: new Uint16Array(2) } }),
      (e: unknown) => e instanceof BranchyArgumentError && e.code === 'FRAME_BAD_SHAPE',
    );
  });

  it('1,000 random byte flips and truncations of a F16/I8 frame only ever throw BranchyIoError', () => {
    const rng = new Rng(20261207);
    const valid = encodeFrame(
      {
        h: { dtype: 'F16', shape: [3, 2], data: new Uint16Array([1, 2, 3, 4, 5, 6]) },
        i: { dtype: 'I8', shape: [5], data: new Int8Array([-5, 0, 5, 9, -9]) },
      },
      { kind: 'features' },
    );
    let decoded = 0;
    for (let round = 0; round < 1000; round++) {
      let bytes = valid.slice();
      if (rng.next() < 0.3) bytes = bytes.slice(0, rng.int(bytes.length));
      else for (let k = 1 + rng.int(4); k > 0; k--) bytes[rng.int(Math.min(bytes.length, 8 + 120))] = rng.int(256);
      try {
        for (const t of Object.values(decodeFrame(bytes, 'fuzz').tensors)) {
          assert.equal(
            t.data.length,
            t.shape.reduce((a, b) => a * b, 1),
          );
        }
        decoded++;
      } catch (e) {
        if (!(e instanceof BranchyIoError)) assert.fail(`round ${round} threw ${String(e)}`);
      }
    }
    assert.ok(decoded < 1000);
  });
});

describe('frameByteLength', () => {
  it('equals the length encodeFrame produces, for every dtype, with and without metadata', () => {
    const input: Record<string, TensorEntry> = {
      ...sample(),
      half: { dtype: 'F16', shape: [3, 1], data: new Uint16Array(3) },
      signed: { dtype: 'I8', shape: [7], data: new Int8Array(7) },
    };
    const metadatas: (Record<string, string> | undefined)[] = [undefined, {}, { kind: 'features', note: 'ünïcødé ✓ "quoted"' }];
    for (const metadata of metadatas) {
      assert.equal(frameByteLength(input, metadata), encodeFrame(input, metadata).length);
    }
    assert.equal(frameByteLength({}), 16);
    for (let n = 0; n < 40; n++) {
      const t = { a: { dtype: 'F16' as const, shape: [n], data: new Uint16Array(n) }, b: { dtype: 'I8' as const, shape: [n, 2], data: new Int8Array(2 * n) } };
      assert.equal(frameByteLength(t, { x: 'y'.repeat(n) }), encodeFrame(t, { x: 'y'.repeat(n) }).length, `n = ${n}`);
    }
  });

  it('refuses what encodeFrame refuses about names, dtypes, shapes and metadata', () => {
    const throwsArg = (fn: () => unknown, code: string): void => assert.throws(fn, (e: unknown) => e instanceof BranchyArgumentError && e.code === code);
    throwsArg(() => frameByteLength({ __metadata__: { dtype: 'U8', shape: [0] } }), 'FRAME_BAD_NAME');
    throwsArg(() => frameByteLength({ a: { dtype: 'BF16' as 'F16', shape: [1] } }), 'FRAME_BAD_DTYPE');
    throwsArg(() => frameByteLength({ a: { dtype: 'F16', shape: [1.5] } }), 'FRAME_BAD_SHAPE');
    throwsArg(() => frameByteLength({}, { a: 2 as unknown as string }), 'FRAME_BAD_METADATA');
  });
});
