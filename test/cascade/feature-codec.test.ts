import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchyIoError } from '../../src/common/errors.ts';
import { Rng } from '../../src/common/rng.ts';
import { BranchyCascadeError } from '../../src/cascade/errors.ts';
import { decodeFeatures, encodeFeatures, featureBytes } from '../../src/cascade/feature-codec.ts';
import { FEATURE_DTYPES, type FeatureDtype, type FeaturesMeta } from '../../src/cascade/types.ts';
import type { Batch } from '../../src/engine/types.ts';
import { decodeFrame, encodeFrame, type TensorEntry } from '../../src/io/frame.ts';

const META: Omit<FeaturesMeta, 'dtype'> = {
  modelId: 'c0ffee'.repeat(10) + 'beef',
  stage: 1,
  thresholds: [0.3, 1e-7, 2.5],
  from: 'device',
};

/** A batch of NHWC features with channels of very different magnitudes, as conv stages produce. */
function features(rng: Rng, shape: number[]): Batch {
  const channels = shape[shape.length - 1];
  const magnitude = Array.from({ length: channels }, (_, c) => 10 ** ((c % 5) - 2));
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => rng.normal() * magnitude[i % channels]);
  return { data, shape };
}

function throwsCascade(fn: () => unknown, code: string, includes: string[] = []): BranchyCascadeError {
  let caught: BranchyCascadeError | undefined;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BranchyCascadeError, `expected BranchyCascadeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const s of includes) assert.ok(e.message.includes(s), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(s)}`);
    caught = e;
    return true;
  });
  return caught as BranchyCascadeError;
}

describe('encodeFeatures / decodeFeatures round trips', () => {
  const rng = new Rng(30305);
  const batch = features(rng, [4, 6, 6, 5]);

  it('f32 is exact, bit for bit (−0, ±Infinity and NaN included)', () => {
    const data = batch.data.slice();
    data.set([-0, Infinity, -Infinity, NaN], 0);
    const { batch: back, meta } = decodeFeatures(encodeFeatures({ data, shape: batch.shape }, 'f32', META));
    assert.deepEqual(back.shape, batch.shape);
    assert.deepEqual(new Uint32Array(back.data.buffer), new Uint32Array(data.buffer));
    assert.equal(meta.dtype, 'f32');
  });

  it('f16 keeps normal values within a relative error of 2^-11, subnormal ones within 2^-25', () => {
    const { batch: back } = decodeFeatures(encodeFeatures(batch, 'f16', META));
    assert.deepEqual(back.shape, batch.shape);
    for (let i = 0; i < batch.data.length; i++) {
      const x = batch.data[i];
      const error = Math.abs(back.data[i] - x);
      if (Math.abs(x) >= 2 ** -14) assert.ok(error <= Math.abs(x) * 2 ** -11, `${x} → ${back.data[i]}`);
      else assert.ok(error <= 2 ** -25, `${x} → ${back.data[i]}`);
    }
  });

  it('f16 carries NaN and ±Infinity, and turns values beyond ±65504 into ±Infinity', () => {
    const data = new Float32Array([NaN, Infinity, -Infinity, 70000, -1e6, 65504]);
    const { batch: back } = decodeFeatures(encodeFeatures({ data, shape: [2, 3] }, 'f16', META));
    assert.ok(Number.isNaN(back.data[0]));
    assert.deepEqual([...back.data.subarray(1)], [Infinity, -Infinity, Infinity, -Infinity, 65504]);
  });

  it('int8 keeps every value within half its channel’s scale, with scale_c = max|x_c| / 127 over the whole batch', () => {
    const bytes = encodeFeatures(batch, 'int8', META);
    const { tensors } = decodeFrame(bytes);
    assert.equal(tensors.features.dtype, 'I8');
    assert.deepEqual(tensors.features.shape, batch.shape);
    assert.equal(tensors.scale.dtype, 'F32');
    assert.deepEqual(tensors.scale.shape, [5]);
    const channels = 5;
    const maxAbs = new Array<number>(channels).fill(0);
    batch.data.forEach((x, i) => (maxAbs[i % channels] = Math.max(maxAbs[i % channels], Math.abs(x))));
    const scale = tensors.scale.data as Float32Array;
    for (let c = 0; c < channels; c++) assert.equal(scale[c], Math.fround(maxAbs[c] / 127), `scale[${c}]`);
    const q = tensors.features.data as Int8Array;
    assert.ok(q.every((v) => v >= -127 && v <= 127));
    // The largest magnitude of each channel uses the full range.
    for (let c = 0; c < channels; c++)
      assert.ok(
        q.some((v, i) => i % channels === c && Math.abs(v) === 127),
        `channel ${c}`,
      );

    const { batch: back } = decodeFeatures(bytes);
    assert.deepEqual(back.shape, batch.shape);
    for (let i = 0; i < batch.data.length; i++) {
      const c = i % channels;
      // Half a step, plus the float32 rounding of q · scale.
      const bound = scale[c] / 2 + Math.abs(batch.data[i]) * 2 ** -23;
      assert.ok(Math.abs(back.data[i] - batch.data[i]) <= bound, `element ${i}: ${batch.data[i]} → ${back.data[i]} (scale ${scale[c]})`);
    }
  });

  it('int8 gives an all-zero channel scale 1, quantises −x to −q, and keeps channels of float32 subnormals', () => {
    const data = new Float32Array([0, 1, -3e-40, 0, -1, 1e-40, 0, 0.5, 0]);
    const bytes = encodeFeatures({ data, shape: [3, 3] }, 'int8', META);
    const { tensors } = decodeFrame(bytes);
    assert.equal((tensors.scale.data as Float32Array)[0], 1);
    const negated = decodeFrame(encodeFeatures({ data: data.map((x) => -x), shape: [3, 3] }, 'int8', META)).tensors;
    assert.deepEqual(
      [...(negated.features.data as Int8Array)],
      [...(tensors.features.data as Int8Array)].map((q) => -q || 0),
    );
    const scale = tensors.scale.data as Float32Array;
    const { batch: back } = decodeFeatures(bytes);
    assert.deepEqual([back.data[0], back.data[3], back.data[6]], [0, 0, 0]);
    // Channel 2 holds float32 subnormals: its scale is tiny but positive, its largest value still quantises to
    // ±127 without clamping, and the bound still holds.
    assert.equal((tensors.features.data as Int8Array)[2], -127);
    assert.ok(scale[2] > 0 && scale[2] < 1e-41, `scale[2] = ${scale[2]}`);
    for (const i of [1, 4, 7, 2, 5, 8]) {
      const bound = scale[i % 3] / 2 + Math.abs(data[i]) * 2 ** -23 + 2 ** -149;
      assert.ok(Math.abs(back.data[i] - data[i]) <= bound, `element ${i}: ${data[i]} → ${back.data[i]}`);
    }
  });

  it('int8 keeps the error bound for channels whose scale would underflow or round far down', () => {
    for (const max of [1e-45, 2e-45, 1.5e-43, 2e-43, 3e-42, 1e-39, 1.2e-38]) {
      const data = Float32Array.from([max, -max / 3, max / 2, -max]);
      const bytes = encodeFeatures({ data, shape: [4, 1] }, 'int8', META);
      const scale = (decodeFrame(bytes).tensors.scale.data as Float32Array)[0];
      assert.ok(scale > 0, `max ${max}: scale ${scale}`);
      const { batch: back } = decodeFeatures(bytes);
      for (let i = 0; i < 4; i++) {
        assert.ok(Math.abs(back.data[i] - data[i]) <= scale / 2 + 2 ** -149, `max ${max}: ${data[i]} → ${back.data[i]} (scale ${scale})`);
      }
    }
  });

  it('round-trips the metadata, stored as strings with kind "features"', () => {
    for (const dtype of FEATURE_DTYPES) {
      const meta = { ...META, stage: 0, thresholds: [0.1, 0, 12345.678], from: 'edge-β' };
      const bytes = encodeFeatures(batch, dtype, meta);
      assert.deepEqual(decodeFeatures(bytes).meta, { ...meta, dtype });
      assert.deepEqual(decodeFrame(bytes).metadata, {
        kind: 'features',
        modelId: META.modelId,
        stage: '0',
        dtype,
        thresholds: '[0.1,0,12345.678]',
        from: 'edge-β',
      });
    }
    assert.deepEqual(decodeFeatures(encodeFeatures(batch, 'f16', { ...META, thresholds: [] })).meta.thresholds, []);
  });

  it('returns a batch that shares no memory with the frame', () => {
    for (const dtype of FEATURE_DTYPES) {
      const bytes = encodeFeatures(batch, dtype, META);
      const { batch: back } = decodeFeatures(bytes);
      assert.notEqual(back.data.buffer, bytes.buffer, dtype);
      back.shape.push(99);
      assert.deepEqual(decodeFeatures(bytes).batch.shape, batch.shape);
    }
  });

  it('does not alter the batch it encodes', () => {
    const copy = batch.data.slice();
    for (const dtype of FEATURE_DTYPES) encodeFeatures(batch, dtype, META);
    assert.deepEqual(batch.data, copy);
  });
});

describe('featureBytes', () => {
  it('equals the length encodeFeatures produces, for several shapes, counts, dtypes and metadata', () => {
    const rng = new Rng(8);
    const metas = [META, { ...META, thresholds: [], from: 'x' }, { ...META, stage: 12, thresholds: [0.123456789, 1e-300, 7], from: 'cloud-eu-west-1' }];
    for (const sampleShape of [[30, 30, 5], [10], [1, 1, 1], [7, 3, 64], [5, 5, 50]]) {
      for (const count of [1, 2, 3, 7, 64, 100]) {
        for (const dtype of FEATURE_DTYPES) {
          for (const meta of metas) {
            const batch = features(rng, [count, ...sampleShape]);
            assert.equal(featureBytes(sampleShape, count, dtype, meta), encodeFeatures(batch, dtype, meta).length, `${count}×[${sampleShape}] ${dtype}`);
          }
        }
      }
    }
  });

  it('costs 4, 2 and 1 bytes per value at f32, f16 and int8', () => {
    // The header grows by a few bytes as the offsets gain digits: rounding the mean over 999 samples removes that.
    const per = (dtype: FeatureDtype) => Math.round((featureBytes([30, 30, 5], 1000, dtype, META) - featureBytes([30, 30, 5], 1, dtype, META)) / 999);
    assert.equal(per('f32'), 4 * 4500);
    assert.equal(per('f16'), 2 * 4500);
    assert.equal(per('int8'), 4500);
  });

  it('refuses a count or sample shape that is no batch, and an unknown dtype', () => {
    for (const count of [0, -1, 1.5, NaN]) throwsCascade(() => featureBytes([30, 30, 5], count, 'f32', META), 'CASCADE_BAD_SHAPE', [String(count)]);
    throwsCascade(() => featureBytes([], 3, 'f32', META), 'CASCADE_BAD_SHAPE', ['[]']);
    throwsCascade(() => featureBytes([3, 0], 3, 'f32', META), 'CASCADE_BAD_SHAPE', ['[3,0]']);
    throwsCascade(() => featureBytes([3], 3, 'bf16' as FeatureDtype, META), 'CASCADE_BAD_DTYPE', ['"bf16"', 'f32, f16, int8']);
    throwsCascade(() => featureBytes([3], 3, 'f16', { ...META, stage: -1 }), 'CASCADE_BAD_FRAME', ["'stage'"]);
  });
});

describe('encodeFeatures refusals (the sender’s fault: status 500)', () => {
  const batch: Batch = { data: new Float32Array(6), shape: [2, 3] };

  it('CASCADE_BAD_DTYPE for a dtype that is not f32, f16 or int8', () => {
    const e = throwsCascade(() => encodeFeatures(batch, 'F16' as FeatureDtype, META), 'CASCADE_BAD_DTYPE', ['"F16"', 'f32, f16, int8']);
    assert.equal(e.status, 500);
  });

  it('CASCADE_BAD_SHAPE for a shape that is not [batch ≥ 1, ...sample] or does not fit the data', () => {
    for (const shape of [[6], [0, 3], [2, 4], [2, 3, 0], [2, 1.5, 2], []]) {
      const e = throwsCascade(() => encodeFeatures({ data: batch.data, shape }, 'f32', META), 'CASCADE_BAD_SHAPE', [JSON.stringify(shape), '6 values']);
      assert.equal(e.status, 500);
    }
    throwsCascade(() => encodeFeatures({ data: [1, 2] as unknown as Float32Array, shape: [1, 2] }, 'f32', META), 'CASCADE_BAD_SHAPE', ['Float32Array']);
  });

  it('CASCADE_BAD_FRAME for metadata of the wrong type', () => {
    const cases: [Partial<FeaturesMeta>, string][] = [
      [{ modelId: '' }, "'modelId'"],
      [{ stage: -1 }, "'stage' is -1"],
      [{ stage: 1.5 }, "'stage' is 1.5"],
      [{ thresholds: [0.1, NaN] }, "'thresholds'"],
      [{ thresholds: new Float32Array(2) as unknown as number[] }, "'thresholds'"],
      [{ from: '' }, "'from'"],
      [{ from: undefined }, "'from'"],
    ];
    for (const [override, says] of cases) {
      const e = throwsCascade(() => encodeFeatures(batch, 'f16', { ...META, ...override }), 'CASCADE_BAD_FRAME', [says]);
      assert.equal(e.status, 500);
    }
  });

  it('CASCADE_BAD_FRAME for a NaN or infinite value in int8, naming the sample and channel', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const data = new Float32Array(6);
      data[4] = bad;
      throwsCascade(() => encodeFeatures({ data, shape: [2, 3] }, 'int8', META), 'CASCADE_BAD_FRAME', [String(bad), 'sample 1', 'channel 1']);
    }
  });
});

describe('decodeFeatures refusals (status 400)', () => {
  const sample: Batch = { data: Float32Array.from({ length: 12 }, (_, i) => i - 6), shape: [2, 2, 3] };
  const goodMeta = (dtype: FeatureDtype): Record<string, string> => decodeFrame(encodeFeatures(sample, dtype, META)).metadata;
  const goodTensors = (dtype: FeatureDtype): Record<string, TensorEntry> => decodeFrame(encodeFeatures(sample, dtype, META)).tensors;
  /** A frame like a good one of `dtype`, with metadata keys replaced (or removed, for `undefined`) and tensors replaced. */
  function frame(dtype: FeatureDtype, meta: Record<string, string | undefined> = {}, tensors: Record<string, TensorEntry | undefined> = {}): Uint8Array {
    const m: Record<string, string> = goodMeta(dtype);
    for (const [k, v] of Object.entries(meta)) {
      if (v === undefined) delete m[k];
      else m[k] = v;
    }
    const t: Record<string, TensorEntry> = goodTensors(dtype);
    for (const [k, v] of Object.entries(tensors)) {
      if (v === undefined) delete t[k];
      else t[k] = v;
    }
    return encodeFrame(t, m);
  }

  it('accepts the frames the helper builds unchanged', () => {
    for (const dtype of FEATURE_DTYPES) assert.deepEqual(decodeFeatures(frame(dtype)).batch.shape, [2, 2, 3]);
  });

  it('CASCADE_BAD_FRAME wrapping the frame error for bytes that are no tensor frame, with the frame code in the message and as cause', () => {
    const good = encodeFeatures(sample, 'f16', META);
    const cases: [Uint8Array, string][] = [
      [good.slice(0, 5), 'FRAME_TOO_SHORT'],
      [good.slice(0, 40), 'FRAME_BAD_HEADER_LENGTH'],
      [good.slice(0, good.length - 2), 'FRAME_BAD_OFFSETS'],
    ];
    const badJson = good.slice();
    badJson[8] = 0x5b; // '[' where '{' was
    cases.push([badJson, 'FRAME_BAD_HEADER_JSON']);
    for (const [bytes, code] of cases) {
      const e = throwsCascade(() => decodeFeatures(bytes), 'CASCADE_BAD_FRAME', [code, 'features frame']);
      assert.equal(e.status, 400);
      assert.ok(e.cause instanceof BranchyIoError);
      assert.equal(e.cause.code, code);
    }
    throwsCascade(() => decodeFeatures('frame' as unknown as Uint8Array), 'CASCADE_BAD_FRAME', ['FRAME_NOT_BYTES']);
  });

  it('CASCADE_BAD_FRAME for a frame that is not a features frame (kind missing or other)', () => {
    throwsCascade(() => decodeFeatures(encodeFrame(goodTensors('f32'))), 'CASCADE_BAD_FRAME', ["no 'kind'", "'features'"]);
    throwsCascade(() => decodeFeatures(frame('f32', { kind: 'branchy-weights' })), 'CASCADE_BAD_FRAME', ['"branchy-weights"', "'features'"]);
  });

  it('CASCADE_BAD_FRAME for missing or malformed metadata', () => {
    const cases: [Record<string, string | undefined>, string[]][] = [
      [{ dtype: undefined }, ["no 'dtype'", 'f32, f16, int8']],
      [{ modelId: undefined }, ["no 'modelId'"]],
      [{ modelId: '' }, ["'modelId' is empty"]],
      [{ from: undefined }, ["no 'from'"]],
      [{ from: '' }, ["'from' is empty"]],
      [{ stage: undefined }, ["no 'stage'"]],
      [{ thresholds: undefined }, ["no 'thresholds'"]],
    ];
    for (const stage of ['-1', '1.5', '01', 'one', '', ' 1', '1e3', '99999999999999999999'])
      cases.push([{ stage }, ["'stage'", JSON.stringify(stage), 'decimal integer']]);
    for (const thresholds of ['nope', '{"a":1}', '[0.1,"0.2"]', '[1e999]', '0.3', '[null]', '']) {
      cases.push([{ thresholds }, ["'thresholds'", JSON.stringify(thresholds), 'JSON array']]);
    }
    for (const [meta, says] of cases) {
      const e = throwsCascade(() => decodeFeatures(frame('f16', meta)), 'CASCADE_BAD_FRAME', says);
      assert.equal(e.status, 400);
    }
  });

  it('CASCADE_BAD_DTYPE for an unknown dtype in the metadata', () => {
    for (const dtype of ['bf16', 'F16', 'float32', 'i8'])
      throwsCascade(() => decodeFeatures(frame('f16', { dtype })), 'CASCADE_BAD_DTYPE', [JSON.stringify(dtype), 'f32, f16, int8']);
  });

  it('CASCADE_BAD_DTYPE when the features tensor’s dtype is not the one the metadata names', () => {
    const asF32 = goodTensors('f32').features;
    const asF16 = goodTensors('f16').features;
    const asI8 = goodTensors('int8').features;
    const scale = goodTensors('int8').scale;
    throwsCascade(() => decodeFeatures(frame('f16', {}, { features: asF32 })), 'CASCADE_BAD_DTYPE', ["'features' is F32", 'f16', 'expected F16']);
    throwsCascade(() => decodeFeatures(frame('f32', {}, { features: asF16 })), 'CASCADE_BAD_DTYPE', ['F16', 'f32', 'expected F32']);
    throwsCascade(() => decodeFeatures(frame('f32', { dtype: 'int8' }, { scale })), 'CASCADE_BAD_DTYPE', ['F32', 'int8', 'expected I8']);
    throwsCascade(() => decodeFeatures(frame('f16', { dtype: 'int8' }, { scale })), 'CASCADE_BAD_DTYPE', ['F16', 'expected I8']);
    const asU8: TensorEntry = { dtype: 'U8', shape: asI8.shape, data: new Uint8Array(asI8.data.length) };
    throwsCascade(() => decodeFeatures(frame('int8', {}, { features: asU8 })), 'CASCADE_BAD_DTYPE', ['U8', 'expected I8']);
    // A relabelled int8 frame is told apart by its features' dtype, not by its extra tensor.
    throwsCascade(() => decodeFeatures(frame('int8', { dtype: 'f16' })), 'CASCADE_BAD_DTYPE', ["'features' is I8", 'f16', 'expected F16']);
  });

  it('CASCADE_BAD_FRAME for a missing or extra tensor', () => {
    throwsCascade(() => decodeFeatures(frame('f32', {}, { features: undefined })), 'CASCADE_BAD_FRAME', ['[]', "expected a tensor 'features'"]);
    throwsCascade(() => decodeFeatures(frame('int8', {}, { features: undefined })), 'CASCADE_BAD_FRAME', ['["scale"]', "expected a tensor 'features'"]);
    throwsCascade(() => decodeFeatures(frame('int8', {}, { scale: undefined })), 'CASCADE_BAD_FRAME', ['["features"]', '["features","scale"]']);
    throwsCascade(() => decodeFeatures(frame('f16', {}, { scale: goodTensors('int8').scale })), 'CASCADE_BAD_FRAME', ['"scale"', 'exactly ["features"]']);
    throwsCascade(() => decodeFeatures(frame('f32', {}, { labels: { dtype: 'I32', shape: [2], data: new Int32Array(2) } })), 'CASCADE_BAD_FRAME', ['"labels"']);
  });

  it('CASCADE_BAD_FRAME for features that are not [batch ≥ 1, ...sample]', () => {
    const f32 = (shape: number[]): TensorEntry => ({ dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    for (const shape of [[12], [], [0, 3], [2, 0, 3]]) {
      throwsCascade(() => decodeFeatures(frame('f32', {}, { features: f32(shape) })), 'CASCADE_BAD_FRAME', [
        "'features'",
        JSON.stringify(shape),
        'at least 2 dims',
      ]);
    }
  });

  it('CASCADE_BAD_FRAME / CASCADE_BAD_DTYPE for an int8 scale of the wrong shape, type or values', () => {
    const { scale } = goodTensors('int8');
    const withScale = (entry: TensorEntry) => frame('int8', {}, { scale: entry });
    throwsCascade(() => decodeFeatures(withScale({ dtype: 'F32', shape: [4], data: new Float32Array(4).fill(1) })), 'CASCADE_BAD_FRAME', [
      '[4]',
      'expected [3]',
    ]);
    throwsCascade(() => decodeFeatures(withScale({ dtype: 'F32', shape: [1, 3], data: new Float32Array(3).fill(1) })), 'CASCADE_BAD_FRAME', [
      '[1,3]',
      'expected [3]',
    ]);
    throwsCascade(() => decodeFeatures(withScale({ dtype: 'F32', shape: [], data: new Float32Array(1).fill(1) })), 'CASCADE_BAD_FRAME', ['expected [3]']);
    throwsCascade(() => decodeFeatures(withScale({ dtype: 'F64', shape: [3], data: new Float64Array(3).fill(1) })), 'CASCADE_BAD_DTYPE', [
      "'scale' is F64",
      'expected F32',
    ]);
    for (const bad of [0, -1, NaN, Infinity]) {
      const data = (scale.data as Float32Array).slice();
      data[2] = bad;
      throwsCascade(() => decodeFeatures(withScale({ dtype: 'F32', shape: [3], data })), 'CASCADE_BAD_FRAME', [`'scale[2]' is ${bad}`, 'finite number > 0']);
    }
  });

  it('600 random mutations of a features frame only ever throw BranchyCascadeError', () => {
    const rng = new Rng(4242);
    let refused = 0;
    for (let round = 0; round < 600; round++) {
      const dtype = FEATURE_DTYPES[round % 3];
      let bytes = encodeFeatures(sample, dtype, META);
      if (rng.next() < 0.2) bytes = bytes.slice(0, rng.int(bytes.length));
      else for (let k = 1 + rng.int(3); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
      try {
        const { batch } = decodeFeatures(bytes);
        assert.equal(
          batch.data.length,
          batch.shape.reduce((a, b) => a * b, 1),
        );
      } catch (e) {
        if (!(e instanceof BranchyCascadeError)) assert.fail(`round ${round} (${dtype}) threw ${String(e)}`);
        refused++;
      }
    }
    assert.ok(refused > 100, `${refused} refused`);
  });
});
