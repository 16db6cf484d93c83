/**
 * Features on the wire between deployment units: a stage's output as a tensor frame, in f32 as computed, in f16
 * (half the bytes) or in int8 with a per-channel scale (a quarter), with the metadata every unit checks.
 *
 * A features frame holds the tensor `features` (`F32`, `F16` or `I8`, shape `[batch, ...sample]`, NHWC for
 * images) and, for int8, the tensor `scale` (`F32`, one per channel: the last axis); its `__metadata__` is
 * `{kind: 'features', modelId, stage, dtype, thresholds, from}`, with `stage` in decimal and `thresholds` a JSON
 * array. Browser-safe.
 *
 * @module
 */
import { BranchyArgumentError, BranchyIoError } from '../common/errors.ts';
import type { Batch } from '../engine/types.ts';
import { decodeFrame, encodeFrame, frameByteLength, type DecodedFrame, type FrameDtype, type TensorEntry, type TensorLayout } from '../io/frame.ts';
import { BranchyCascadeError } from './errors.ts';
import { float16BitsToFloat32, float32ToFloat16Bits } from './float16.ts';
import { FEATURE_DTYPES, type FeatureDtype, type FeaturesMeta } from './types.ts';

export { float16BitsToFloat32, float32ToFloat16Bits } from './float16.ts';

/** Name of the tensor holding the features. */
export const FEATURES_TENSOR = 'features';
/** Name of the per-channel scale tensor of an int8 frame. */
export const SCALE_TENSOR = 'scale';
/** `__metadata__.kind` of a features frame. */
export const FEATURES_KIND = 'features';
/** `__metadata__.kind` of a probe frame ({@link encodeProbe}). */
export const PROBE_KIND = 'probe';

/** The frame dtype each feature dtype travels as. */
export const FEATURE_FRAME_DTYPES: Readonly<Record<FeatureDtype, FrameDtype>> = Object.freeze({ f32: 'F32', f16: 'F16', int8: 'I8' });

/** Largest int8 magnitude used: the range is kept symmetric, so -128 never occurs. */
const INT8_MAX = 127;
/** Scratch for stepping a float32 to its successor through its bit pattern. */
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);
const SOURCE = 'features frame';

/** A short, printable rendering of a value seen in input, for error messages. */
function quote(value: unknown, max = 80): string {
  let text: string;
  try {
    // Numbers as JavaScript prints them: JSON would show NaN and ±Infinity as null.
    text =
      typeof value === 'string'
        ? JSON.stringify(value.slice(0, max + 1))
        : typeof value === 'number'
          ? String(value)
          : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function isFeatureDtype(value: unknown): value is FeatureDtype {
  return typeof value === 'string' && (FEATURE_DTYPES as readonly string[]).includes(value);
}

function checkDtype(dtype: unknown, status: number): asserts dtype is FeatureDtype {
  if (!isFeatureDtype(dtype)) {
    throw new BranchyCascadeError('CASCADE_BAD_DTYPE', `Feature dtype ${quote(dtype)} is not one of ${FEATURE_DTYPES.join(', ')}.`, status);
  }
}

/** The string metadata of a features frame, after checking what the sender gave (sender errors are ours: 500). */
function metadataOf(meta: Omit<FeaturesMeta, 'dtype'>, dtype: FeatureDtype): Record<string, string> {
  const bad = (what: string): never => {
    throw new BranchyCascadeError('CASCADE_BAD_FRAME', `Cannot encode features: ${what}.`, 500);
  };
  const { modelId, stage, thresholds, from } = (meta ?? {}) as Partial<FeaturesMeta>;
  if (typeof modelId !== 'string' || modelId === '') bad(`'modelId' is ${quote(modelId)}; expected a non-empty string`);
  if (typeof stage !== 'number' || !Number.isSafeInteger(stage) || stage < 0) bad(`'stage' is ${quote(stage)}; expected an integer ≥ 0`);
  if (!Array.isArray(thresholds) || !thresholds.every((t) => typeof t === 'number' && Number.isFinite(t))) {
    bad(`'thresholds' is ${quote(thresholds)}; expected an array of finite numbers`);
  }
  if (typeof from !== 'string' || from === '') bad(`'from' is ${quote(from)}; expected a non-empty string (the sending unit's name)`);
  return {
    kind: FEATURES_KIND,
    modelId: modelId as string,
    stage: String(stage),
    dtype,
    thresholds: JSON.stringify(thresholds),
    from: from as string,
  };
}

/** A features shape must be `[batch ≥ 1, ...sample]` with at least one sample axis, every dim an integer ≥ 1. */
function isFeaturesShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.length >= 2 && shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 1);
}

/** The tensors {@link encodeFeatures} writes, as the header describes them (for {@link featureBytes}). */
function layoutOf(shape: readonly number[], dtype: FeatureDtype): Record<string, TensorLayout> {
  const layout: Record<string, TensorLayout> = { [FEATURES_TENSOR]: { dtype: FEATURE_FRAME_DTYPES[dtype], shape } };
  if (dtype === 'int8') layout[SCALE_TENSOR] = { dtype: 'F32', shape: [shape[shape.length - 1]] };
  return layout;
}

/** Symmetric per-channel quantisation over the whole batch: one scale per channel (last axis), q in [-127, 127]. */
function quantise(x: Float32Array, channels: number, sampleSize: number): { q: Int8Array; scale: Float32Array } {
  const maxAbs = new Float64Array(channels);
  for (let i = 0, c = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    // `!(a <= max)` also catches NaN, which `a > max` would let through.
    if (!(a <= maxAbs[c])) {
      if (!Number.isFinite(a)) {
        throw new BranchyCascadeError(
          'CASCADE_BAD_FRAME',
          `Cannot encode features as int8: element ${i} (sample ${Math.floor(i / sampleSize)}, channel ${c}) is ${x[i]}; int8 needs finite ` +
            `features (f32 and f16 carry NaN and ±Infinity).`,
          500,
        );
      }
      maxAbs[c] = a;
    }
    if (++c === channels) c = 0;
  }
  const scale = new Float32Array(channels);
  for (let c = 0; c < channels; c++) scale[c] = maxAbs[c] === 0 ? 1 : scaleFor(maxAbs[c]);
  // Multiplying by the inverse and truncating |v| + 1/2 is over twice as fast as dividing and Math.round; the
  // result differs only where x / scale is within a few ulps of a tie, and stays within half a step either way.
  const inverse = Float64Array.from(scale, (sc) => 1 / sc);
  const q = new Int8Array(x.length);
  for (let i = 0, c = 0; i < x.length; i++) {
    const v = x[i] * inverse[c];
    // Ties away from zero, so that quantising -x gives -q. |v| ≤ 127.5, so `| 0` truncates exactly.
    const r = (v < 0 ? v - 0.5 : v + 0.5) | 0;
    q[i] = r > INT8_MAX ? INT8_MAX : r < -INT8_MAX ? -INT8_MAX : r;
    if (++c === channels) c = 0;
  }
  return { q, scale };
}

/**
 * max / 127 as a float32. Where that is subnormal it can round far below the quotient (even to 0), and the largest
 * values would then be clamped by more than half a step: such a scale is stepped up until they are not.
 */
function scaleFor(maxAbs: number): number {
  F32[0] = maxAbs / INT8_MAX;
  while (maxAbs / F32[0] >= INT8_MAX + 0.5) F32_BITS[0]++;
  return F32[0];
}

function dequantise(q: Int8Array, scale: Float32Array): Float32Array {
  const channels = scale.length;
  const out = new Float32Array(q.length);
  for (let i = 0, c = 0; i < q.length; i++) {
    out[i] = q[i] * scale[c];
    if (++c === channels) c = 0;
  }
  return out;
}

/**
 * Serialises a batch of features into a features frame, in `dtype`: f32 exactly, f16 rounded to nearest even
 * (values beyond ±65504 become ±Infinity), int8 quantised per channel (the last axis) with
 * scale_c = max|x_c| / 127 over the whole batch (1 for an all-zero channel) and q = round(x / scale_c).
 *
 * @param batch features `[batch ≥ 1, ...sample]` (NHWC for images), every dim ≥ 1.
 * @param meta who sends what: the model's id, the stage the features come from, the request's thresholds, the
 *   sending unit's name. Stored as strings in the frame's metadata, with `kind: 'features'` and `dtype`.
 * @throws BranchyCascadeError (status 500: the sender's fault) code `CASCADE_BAD_DTYPE` for an unknown dtype,
 *   `CASCADE_BAD_SHAPE` for a shape that is not `[batch ≥ 1, ...sample]` with positive integer dims or does not
 *   match `batch.data.length`, `CASCADE_BAD_FRAME` for metadata of the wrong type or, in int8, a non-finite value.
 * @example
 * ```ts
 * const frame = encodeFeatures(features, 'f16', { modelId, stage: 1, thresholds: [0.3, 0.5], from: 'device' });
 * const reply = await transport.forward(frame, 200);
 * ```
 */
export function encodeFeatures(batch: Batch, dtype: FeatureDtype, meta: Omit<FeaturesMeta, 'dtype'>): Uint8Array {
  checkDtype(dtype, 500);
  const { data, shape } = batch ?? {};
  if (!(data instanceof Float32Array)) {
    throw new BranchyCascadeError('CASCADE_BAD_SHAPE', `Cannot encode features: 'batch.data' is ${quote(data)}; expected a Float32Array.`, 500);
  }
  if (!isFeaturesShape(shape) || shape.reduce((a, b) => a * b, 1) !== data.length) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_SHAPE',
      `Cannot encode features: 'batch.shape' is ${quote(shape)} for ${data.length} values; expected [batch, ...sample] ` +
        `(at least 2 dims, each an integer ≥ 1) whose product is the value count.`,
      500,
    );
  }
  const metadata = metadataOf(meta, dtype);
  const featuresShape = [...shape];
  const tensors: Record<string, TensorEntry> = {};
  if (dtype === 'f32') {
    tensors[FEATURES_TENSOR] = { dtype: 'F32', shape: featuresShape, data };
  } else if (dtype === 'f16') {
    tensors[FEATURES_TENSOR] = { dtype: 'F16', shape: featuresShape, data: float32ToFloat16Bits(data) };
  } else {
    const channels = shape[shape.length - 1];
    const { q, scale } = quantise(data, channels, data.length / shape[0]);
    tensors[FEATURES_TENSOR] = { dtype: 'I8', shape: featuresShape, data: q };
    tensors[SCALE_TENSOR] = { dtype: 'F32', shape: [channels], data: scale };
  }
  return encodeFrame(tensors, metadata);
}

/**
 * The exact length of the frame {@link encodeFeatures} produces for `count` samples of `sampleShape` in `dtype`
 * with this metadata (the header's length depends on it), without encoding: for splitting a batch under a
 * transport's message limit.
 *
 * @throws BranchyCascadeError code `CASCADE_BAD_DTYPE`, `CASCADE_BAD_SHAPE` (a sample shape without dims or
 *   with a dim that is not an integer ≥ 1, or a count that is not), `CASCADE_BAD_FRAME` (metadata), as
 *   {@link encodeFeatures} would.
 * @example
 * ```ts
 * let count = samples;
 * while (count > 1 && featureBytes([30, 30, 5], count, 'int8', meta) > transport.maxFrameBytes) count = Math.ceil(count / 2);
 * ```
 */
export function featureBytes(sampleShape: readonly number[], count: number, dtype: FeatureDtype, meta: Omit<FeaturesMeta, 'dtype'>): number {
  checkDtype(dtype, 500);
  const shape = [count, ...(Array.isArray(sampleShape) ? sampleShape : [])];
  if (!Array.isArray(sampleShape) || !isFeaturesShape(shape)) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_SHAPE',
      `Cannot size a features frame of ${quote(count)} samples of shape ${quote(sampleShape)}; expected a count and ` +
        `sample dims that are integers ≥ 1, with at least one sample dim.`,
      500,
    );
  }
  return frameByteLength(layoutOf(shape, dtype), metadataOf(meta, dtype));
}

/**
 * Parses a features frame back into a float32 batch and its metadata. Checks the frame's structure, its
 * metadata's presence and types, and that the tensors match the dtype the metadata names; it does not check
 * whose model, which stage or what shape the features are: the receiving unit compares those with its plan.
 *
 * The batch never shares memory with `bytes`.
 *
 * @throws BranchyCascadeError (status 400) code `CASCADE_BAD_FRAME` for bytes that are no tensor frame (the
 *   frame error's code is quoted in the message and the error is the `cause`), for missing or malformed
 *   metadata (`kind` other than `features`, an empty `modelId` or `from`, a `stage` that is not a decimal
 *   integer ≥ 0, `thresholds` that are not a JSON array of finite numbers), for a missing or extra tensor, a
 *   `features` shape other than `[batch ≥ 1, ...sample]`, an int8 `scale` that is not `[channels]` of finite
 *   positive values; `CASCADE_BAD_DTYPE` for an unknown `dtype`, or a tensor whose dtype is not the one
 *   `dtype` calls for.
 * @example
 * ```ts
 * const { batch, meta } = decodeFeatures(frame);
 * if (meta.modelId !== plan.modelId) throw new BranchyCascadeError('CASCADE_WRONG_MODEL', …);
 * ```
 */
export function decodeFeatures(bytes: Uint8Array): { batch: Batch; meta: FeaturesMeta } {
  const decoded = decodeUnitFrame(bytes);
  if (decoded.kind === PROBE_KIND) throw new BranchyCascadeError('CASCADE_BAD_FRAME', `${SOURCE}: it is a probe frame; expected features.`);
  return decoded;
}

/**
 * A probe frame: the metadata of a features frame (kind `probe`, dtype `f32`) and no tensors. A unit sends one to
 * time the round trip to its successor without features; the successor checks it as it checks features (model,
 * stage) and answers with an empty answer frame.
 *
 * @throws BranchyCascadeError (status 500) `CASCADE_BAD_FRAME` for metadata of the wrong type.
 */
export function encodeProbe(meta: Omit<FeaturesMeta, 'dtype'>): Uint8Array {
  return encodeFrame({}, { ...metadataOf(meta, 'f32'), kind: PROBE_KIND });
}

/**
 * What a unit receives: a features frame ({@link decodeFeatures}) or a probe ({@link encodeProbe}).
 *
 * @throws BranchyCascadeError as {@link decodeFeatures}; a probe that holds tensors is `CASCADE_BAD_FRAME`.
 */
export function decodeUnitFrame(
  bytes: Uint8Array,
): { kind: typeof FEATURES_KIND; batch: Batch; meta: FeaturesMeta } | { kind: typeof PROBE_KIND; meta: FeaturesMeta } {
  const bad = (message: string): never => {
    throw new BranchyCascadeError('CASCADE_BAD_FRAME', `${SOURCE}: ${message}`);
  };
  let frame: DecodedFrame;
  try {
    frame = decodeFrame(bytes, SOURCE);
  } catch (e) {
    if (e instanceof BranchyIoError || e instanceof BranchyArgumentError) {
      throw new BranchyCascadeError('CASCADE_BAD_FRAME', `${e.message} (${e.code})`, 400, { cause: e });
    }
    throw e;
  }
  const meta = readMeta(frame.metadata, bad);
  const { tensors } = frame;
  if (frame.metadata.kind === PROBE_KIND) {
    if (Object.keys(tensors).length > 0) bad(`a probe frame holds tensors ${quote(Object.keys(tensors))}; expected none.`);
    return { kind: PROBE_KIND, meta };
  }

  if (!Object.prototype.hasOwnProperty.call(tensors, FEATURES_TENSOR)) {
    bad(`holds tensors ${quote(Object.keys(tensors))}; expected a tensor '${FEATURES_TENSOR}'.`);
  }
  const features = tensors[FEATURES_TENSOR];
  const frameDtype = FEATURE_FRAME_DTYPES[meta.dtype];
  if (features.dtype !== frameDtype) {
    throw new BranchyCascadeError(
      'CASCADE_BAD_DTYPE',
      `${SOURCE}: tensor '${FEATURES_TENSOR}' is ${features.dtype} but metadata 'dtype' is ${meta.dtype}; expected ${frameDtype}.`,
    );
  }
  const expected = meta.dtype === 'int8' ? [FEATURES_TENSOR, SCALE_TENSOR] : [FEATURES_TENSOR];
  const names = Object.keys(tensors);
  if (names.length !== expected.length || !expected.every((name) => names.includes(name))) {
    bad(`holds tensors ${quote(names)}; a features frame of dtype ${meta.dtype} holds exactly ${quote(expected)}.`);
  }
  if (!isFeaturesShape(features.shape)) {
    bad(`tensor '${FEATURES_TENSOR}' has shape ${quote(features.shape)}; expected [batch, ...sample] with at least 2 dims, each ≥ 1.`);
  }
  const shape = [...features.shape];

  let data: Float32Array;
  if (meta.dtype === 'f32') {
    data = (features.data as Float32Array).slice();
  } else if (meta.dtype === 'f16') {
    data = float16BitsToFloat32(features.data as Uint16Array);
  } else {
    const scale = tensors[SCALE_TENSOR];
    const channels = shape[shape.length - 1];
    if (scale.dtype !== 'F32') {
      throw new BranchyCascadeError('CASCADE_BAD_DTYPE', `${SOURCE}: tensor '${SCALE_TENSOR}' is ${scale.dtype}; expected F32.`);
    }
    if (scale.shape.length !== 1 || scale.shape[0] !== channels) {
      bad(`tensor '${SCALE_TENSOR}' has shape ${quote(scale.shape)}; expected [${channels}] (one per channel of ${quote(shape)}).`);
    }
    const values = scale.data as Float32Array;
    const wrong = values.findIndex((s) => !(Number.isFinite(s) && s > 0));
    if (wrong >= 0) bad(`'${SCALE_TENSOR}[${wrong}]' is ${values[wrong]}; expected a finite number > 0.`);
    data = dequantise(features.data as Int8Array, values);
  }
  return { kind: FEATURES_KIND, batch: { data, shape }, meta };
}

function readMeta(metadata: Record<string, string>, bad: (message: string) => never): FeaturesMeta {
  const field = (key: string, expected: string): string => {
    if (!Object.prototype.hasOwnProperty.call(metadata, key)) bad(`metadata has no '${key}'; expected ${expected}.`);
    return metadata[key];
  };
  const kind = field('kind', `'${FEATURES_KIND}'`);
  if (kind !== FEATURES_KIND && kind !== PROBE_KIND) bad(`metadata 'kind' is ${quote(kind)}; expected '${FEATURES_KIND}'.`);
  const dtype = field('dtype', `one of ${FEATURE_DTYPES.join(', ')}`);
  if (!isFeatureDtype(dtype)) {
    throw new BranchyCascadeError('CASCADE_BAD_DTYPE', `${SOURCE}: metadata 'dtype' is ${quote(dtype)}; expected one of ${FEATURE_DTYPES.join(', ')}.`);
  }
  const modelId = field('modelId', 'the producing model id');
  if (modelId === '') bad(`metadata 'modelId' is empty; expected the producing model id.`);
  const from = field('from', "the sending unit's name");
  if (from === '') bad(`metadata 'from' is empty; expected the sending unit's name.`);
  const stageText = field('stage', 'a decimal integer ≥ 0');
  const stage = Number(stageText);
  if (!/^(0|[1-9][0-9]*)$/.test(stageText) || !Number.isSafeInteger(stage)) {
    bad(`metadata 'stage' is ${quote(stageText)}; expected a decimal integer ≥ 0.`);
  }
  const thresholdsText = field('thresholds', 'a JSON array of finite numbers');
  let thresholds: unknown;
  try {
    thresholds = JSON.parse(thresholdsText);
  } catch {
    thresholds = undefined;
  }
  if (!Array.isArray(thresholds) || !thresholds.every((t) => typeof t === 'number' && Number.isFinite(t))) {
    bad(`metadata 'thresholds' is ${quote(thresholdsText)}; expected a JSON array of finite numbers.`);
  }
  return { modelId, stage, dtype, thresholds: thresholds as number[], from };
}
