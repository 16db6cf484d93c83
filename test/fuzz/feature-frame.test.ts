import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeAnswerFrame } from '../../src/cascade/answer-frame.ts';
import { unitErrorReply } from '../../src/cascade/error-reply.ts';
import { decodeUnitFrame, encodeFeatures, encodeProbe } from '../../src/cascade/feature-codec.ts';
import { splitModel, writePlan } from '../../src/cascade/plan.ts';
import { FEATURE_DTYPES, type FeaturesMeta } from '../../src/cascade/types.ts';
import { CascadeUnit } from '../../src/cascade/unit.ts';
import { useBackend } from '../../src/engine/tfjs/index.ts';
import { TfjsNetwork } from '../../src/engine/tfjs/network.ts';
import { encodeFrame } from '../../src/io/frame.ts';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.ts';
import { randomBatch, tempDir, tinySpec } from '../helpers.ts';
import { assertTyped, mutated, named, Outcomes, params, randomBytes, runs, typedOrValid, typedOrValidAsync } from './fuzz.ts';

const CASCADE_CODES = ['CASCADE_BAD_FRAME', 'CASCADE_BAD_DTYPE'];
/** What a unit may refuse a frame with besides the decoder's codes: another model, another stage, another shape. */
const UNIT_CODES = [...CASCADE_CODES, 'CASCADE_WRONG_MODEL', 'CASCADE_WRONG_STAGE', 'CASCADE_BAD_SHAPE'];

const META: Omit<FeaturesMeta, 'dtype'> = { modelId: 'ab'.repeat(32), stage: 1, thresholds: [0.5, 0.25], from: 'a' };

/** Frames as units send them: every dtype, a probe; stage 1 features of `tinySpec` are [6, 6, 4]. */
function validFrames(meta: Omit<FeaturesMeta, 'dtype'>): Uint8Array[] {
  const batch = randomBatch([2, 6, 6, 4], 7);
  return [...FEATURE_DTYPES.map((dtype) => encodeFeatures(batch, dtype, meta)), encodeFeatures(randomBatch([1, 6, 6, 4], 8), 'int8', meta), encodeProbe(meta)];
}

/** A decoded frame is consistent: a probe has no batch; features are [batch ≥ 1, ...sample] with one float per element. */
function checkDecoded(frame: ReturnType<typeof decodeUnitFrame>): void {
  assert.ok(FEATURE_DTYPES.includes(frame.meta.dtype));
  assert.ok(Number.isSafeInteger(frame.meta.stage) && frame.meta.stage >= 0);
  assert.ok(frame.meta.thresholds.every((t) => Number.isFinite(t)));
  if (frame.kind === 'probe') return;
  const { data, shape } = frame.batch;
  assert.ok(data instanceof Float32Array);
  assert.ok(shape.length >= 2 && shape.every((d) => Number.isSafeInteger(d) && d >= 1));
  assert.equal(
    data.length,
    shape.reduce((a, b) => a * b, 1),
  );
}

/** Mostly `valid`, else one of `hostile`: so that a case is often wrong in one field only. */
const mostly = <T>(valid: T, hostile: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(valid), weight: 4 }, { arbitrary: hostile, weight: 1 });

/** Frames whose metadata fields and tensors are drawn from hostile values, each field mostly valid. */
const hostileFrame = fc
  .record({
    kind: mostly('features', fc.constantFrom('probe', 'answers', '')),
    modelId: mostly(META.modelId, fc.string({ maxLength: 4 })),
    stage: mostly('1', fc.oneof(fc.constantFrom('0', '01', '-1', '1e3', '9007199254740993', ' 1', ''), fc.string({ maxLength: 3 }))),
    dtype: mostly<string>('f32', fc.oneof(fc.constantFrom('f16', 'int8'), fc.string({ maxLength: 4 }))),
    thresholds: mostly(
      '[0.5,0.25]',
      fc.oneof(fc.constantFrom('[]', '[NaN]', '[1e999]', '{}', 'null', '[[1]]', `${'['.repeat(5000)}${']'.repeat(5000)}`), fc.string({ maxLength: 6 })),
    ),
    from: mostly('a', fc.constant('')),
  })
  .chain((metadata) =>
    fc.tuple(
      fc.constant(metadata),
      mostly(metadata.dtype === 'int8' ? ['features', 'scale'] : ['features'], fc.subarray(['features', 'scale', 'x'])),
      mostly<string>({ f32: 'F32', f16: 'F16', int8: 'I8' }[metadata.dtype] ?? 'F32', fc.constantFrom('F32', 'F16', 'I8', 'U8', 'F64')),
      mostly([2, 6, 6, 4], fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 })),
      mostly(false, fc.constant(true)),
    ),
  )
  .map(([metadata, names, dtype, shape, dropFrom]) => {
    const channels = shape.length > 0 ? shape[shape.length - 1] : 1;
    const make = { F32: Float32Array, F16: Uint16Array, I8: Int8Array, U8: Uint8Array, F64: Float64Array }[dtype as 'F32'];
    const tensors = Object.fromEntries(
      names.map((name) => {
        const own = name === 'scale' ? [channels] : shape;
        const n = own.reduce((a, b) => a * b, 1);
        return [name, { dtype: name === 'scale' ? 'F32' : dtype, shape: own, data: new (name === 'scale' ? Float32Array : make)(n).fill(1) }];
      }),
    );
    const meta: Record<string, string> = { ...metadata };
    if (dropFrom) delete meta.from;
    return encodeFrame(metadata.kind === 'probe' ? {} : (tensors as Parameters<typeof encodeFrame>[0]), meta);
  });

describe('fuzz: cascade features frame decoder', () => {
  const CI = runs(1500);
  const VALID = validFrames(META);

  it(named('random bytes give CASCADE_BAD_FRAME', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(randomBytes([Uint8Array.of(2, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d)]), (bytes) => {
        outcomes.add(typedOrValid(() => decodeUnitFrame(bytes), checkDecoded, CASCADE_CODES));
      }),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('CASCADE_BAD_FRAME'), String(outcomes));
  });

  it(named('valid features and probe frames with mutated bytes give a CASCADE_* error or a consistent frame', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(mutated(fc.constantFrom(...VALID)), (bytes) => {
        outcomes.add(typedOrValid(() => decodeUnitFrame(bytes), checkDecoded, CASCADE_CODES));
      }),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('CASCADE_BAD_FRAME'), String(outcomes));
  });

  it(named('frames with hostile metadata and tensors give a CASCADE_* error or a consistent frame', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(hostileFrame, (bytes) => {
        outcomes.add(typedOrValid(() => decodeUnitFrame(bytes), checkDecoded, CASCADE_CODES));
      }),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('CASCADE_BAD_FRAME') && outcomes.has('CASCADE_BAD_DTYPE'), String(outcomes));
  });
});

describe('fuzz: a unit answering features frames', () => {
  const CI = runs(300);
  let unit: CascadeUnit;
  let valid: Uint8Array[];

  before(async () => {
    await useBackend('cpu');
    const spec = tinySpec();
    const net = new TfjsNetwork(spec, undefined, 3);
    const modelDir = join(tempDir(), 'tiny');
    saveModelDir(modelDir, { spec, weights: net.weights() });
    net.dispose();
    const planDir = join(tempDir(), 'tiny-plan');
    const { plan } = { plan: writePlan(planDir, splitModel(loadModelDir(modelDir), { at: [1], names: ['a', 'b'] })) };
    unit = await CascadeUnit.open(planDir, 'b', { open: { engine: 'tfjs', backend: 'cpu' } });
    valid = validFrames({ ...META, modelId: plan.modelId });
  });
  after(async () => {
    await unit?.close();
  });

  it(named('every mutated frame gets a 4xx refusal or an answer frame of one result per sample, and a valid frame after', CI), async (t) => {
    const outcomes = new Outcomes();
    const decodedCount = (bytes: Uint8Array) => {
      try {
        const frame = decodeUnitFrame(bytes);
        return frame.kind === 'probe' ? 0 : frame.batch.shape[0];
      } catch {
        return undefined;
      }
    };
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(fc.constantFrom(...valid)), hostileFrame), async (bytes) => {
        const outcome = await typedOrValidAsync(
          () => unit.answerFrame(bytes),
          (answer) => {
            const count = decodedCount(bytes);
            assert.ok(count !== undefined, 'an answered frame decodes');
            const { results } = decodeAnswerFrame(answer, count, 3);
            // Unit b holds stages 2 and 3 of the three, with their exits.
            for (const r of results) assert.ok(r.exit === 2 || r.exit === 3, `exit ${r.exit}`);
          },
          UNIT_CODES,
        );
        outcomes.add(outcome);
        const reply = await unit.answerFrame(valid[0]).then(
          () => 200,
          (error: unknown) => unitErrorReply(error).status,
        );
        assert.equal(reply, 200, 'a valid frame after');
      }),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('CASCADE_BAD_FRAME'), String(outcomes));
  });

  it('a refusal maps to a 4xx reply with its code', async () => {
    try {
      await unit.answerFrame(valid[0].subarray(0, 20));
      assert.fail('expected a refusal');
    } catch (error) {
      assertTyped(error, ['CASCADE_BAD_FRAME']);
      const reply = unitErrorReply(error);
      assert.ok(reply.status >= 400 && reply.status < 500, `status ${reply.status}`);
    }
  });
});
