import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { readManifest } from '../../src/io/model-dir.ts';
import { encodeFrame } from '../../src/io/frame.ts';
import { encodeInputsFrame, type BranchyServer } from '../../src/serve/index.ts';
import { errorReply } from '../../src/serve/errors.ts';
import { inputsFromFrame, inputsFromJson } from '../../src/serve/wire.ts';
import type { Batch } from '../../src/engine/types.ts';
import { bodyOf, digits, listen, predictJson, served, type InProcessModel } from '../serve/fixtures.ts';
import { deeplyNested, jsonText, materialize, mutated, mutatedJson, named, Outcomes, params, randomBytes, runs } from './fuzz.ts';

const MODEL = 'b-lenet-mnist';
const SPEC = readManifest(SHIPPED_MODEL_DIR).spec;
const MAX_SAMPLES = 64;
const BODY_LIMIT = 256 * 1024;

/** A few digits' worth of values, rounded so that JSON bodies stay short. */
const SAMPLES = Array.from({ length: 3 }, (_, s) => Array.from({ length: 784 }, (_, i) => Math.round(((i * 7 + s * 31) % 256) / 2.55) / 100));
const JSON_BODIES: unknown[] = [{ inputs: [SAMPLES[0]] }, { inputs: SAMPLES }];
const FRAMES: Uint8Array[] = [
  encodeInputsFrame(Float32Array.from(SAMPLES[0]), [1, 784]),
  encodeInputsFrame(Float32Array.from(SAMPLES.flat()), [3, 28, 28, 1]),
  encodeFrame({ inputs: { dtype: 'F32', shape: [2, 784], data: Float32Array.from([...SAMPLES[1], ...SAMPLES[2]]) } }, { note: 'x' }),
  encodeInputsFrame(
    Float32Array.from(SAMPLES[2], (v, i) => (i === 100 ? NaN : v)),
    [1, 784],
  ),
  encodeFrame({ inputs: { dtype: 'F64', shape: [1, 784], data: Float64Array.from(SAMPLES[0]) } }),
  encodeFrame({ pixels: { dtype: 'F32', shape: [1, 784], data: Float32Array.from(SAMPLES[0]) } }),
];

/** A decoded batch is what the batcher may run: [n ≥ 1, 28, 28, 1], n within the limit, every value finite. */
function checkBatch(x: Batch): void {
  assert.deepEqual(x.shape.slice(1), SPEC.input.shape);
  assert.ok(x.shape[0] >= 1 && x.shape[0] <= MAX_SAMPLES, `count ${x.shape[0]}`);
  assert.equal(x.data.length, x.shape[0] * 784);
  for (let i = 0; i < x.data.length; i++) if (!Number.isFinite(x.data[i])) assert.fail(`value ${i} is ${x.data[i]}`);
}

/** The request decoder's property: a batch the server can run, or an error the server answers with a 4xx and its code. */
function decodeOutcome(decode: () => Batch): string {
  try {
    checkBatch(decode());
    return 'ok';
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    const { status, body } = errorReply(error);
    assert.ok(status >= 400 && status < 500, `status ${status} for ${(error as Error)?.stack ?? String(error)}`);
    assert.match(body.code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/);
    return `${status} ${body.code}`;
  }
}

describe('fuzz: the server request decoders', () => {
  const CI = runs(600);
  it(named('JSON bodies, arbitrary or mutated from valid ones, give a batch or a 4xx error', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.constantFrom(...JSON_BODIES).chain((b) => mutatedJson(b)),
        ),
        (body) => {
          outcomes.add(decodeOutcome(() => inputsFromJson(materialize(body), SPEC, MAX_SAMPLES)));
        },
      ),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('400 SERVE_BAD_INPUTS'), String(outcomes));
  });

  it(named('frame bodies, random or mutated from valid ones, give a batch or a 4xx error', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(fc.oneof(mutated(fc.constantFrom(...FRAMES)), randomBytes([], 256)), (bytes) => {
        outcomes.add(decodeOutcome(() => inputsFromFrame(bytes, SPEC, MAX_SAMPLES)));
      }),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('400 SERVE_BAD_INPUTS') && outcomes.size >= 4, String(outcomes));
  });
});

/** One request body and the content type it is sent with. */
interface Body {
  type: string;
  bytes: Uint8Array;
}

const encoder = new TextEncoder();
const jsonBodies: fc.Arbitrary<Body> = fc
  .oneof(
    fc.constantFrom(...JSON_BODIES.map((b) => encoder.encode(JSON.stringify(b)))),
    fc.constantFrom(...JSON_BODIES).chain((b) => mutatedJson(b).map((m) => encoder.encode(jsonText(m)))),
    mutated(fc.constantFrom(...JSON_BODIES.map((b) => encoder.encode(JSON.stringify(b))))),
    fc.jsonValue({ maxDepth: 3 }).map((v) => encoder.encode(JSON.stringify(v) ?? 'null')),
  )
  .map((bytes) => ({ type: 'application/json', bytes }));
const frameBodies: fc.Arbitrary<Body> = fc
  .oneof(fc.constantFrom(...FRAMES), mutated(fc.constantFrom(...FRAMES)), randomBytes([], 256))
  .map((bytes) => ({ type: 'application/octet-stream', bytes }));

describe('fuzz: the server over HTTP on loopback', () => {
  const CI = runs(120);
  let model: InProcessModel;
  let server: BranchyServer;
  let url: string;
  let valid: Float32Array;
  let label: number;

  before(async () => {
    model = await served(SHIPPED_MODEL_DIR, MODEL);
    ({ server, url } = await listen([model], { bodyLimit: BODY_LIMIT, maxWaitMs: 0, queueLimit: MAX_SAMPLES }));
    valid = digits(1, 3)[0];
    label = ((await (await predictJson(url, MODEL, [valid])).json()) as { results: { label: number }[] }).results[0].label;
  });
  after(async () => {
    await server?.close();
    await model?.host.close();
  });

  it(named('JSON and frame bodies each get a 200 or a 4xx {code, message}, never a 5xx, and a valid request after', CI), async (t) => {
    const outcomes = new Outcomes();
    await fc.assert(
      fc.asyncProperty(fc.oneof(jsonBodies, frameBodies), async (body) => {
        const res = await fetch(`${url}/v1/models/${MODEL}/predict`, { method: 'POST', headers: { 'content-type': body.type }, body: bodyOf(body.bytes) });
        const text = await res.text();
        assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `status ${res.status}: ${text.slice(0, 300)}`);
        if (res.status === 200) {
          const { results } = JSON.parse(text) as { results: { label: number; exit: number }[] };
          assert.ok(results.length >= 1 && results.every((r) => r.label >= 0 && r.label < 10 && (r.exit === 1 || r.exit === 2)));
          outcomes.add(undefined);
        } else {
          const error = JSON.parse(text) as { code: unknown; message: unknown };
          assert.match(String(error.code), /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/, text);
          assert.ok(typeof error.message === 'string' && error.message.length > 0, text);
          outcomes.add(`${res.status} ${String(error.code)}`);
        }
        const ok = await predictJson(url, MODEL, [valid]);
        assert.equal(ok.status, 200, 'a valid request after');
        assert.equal(((await ok.json()) as { results: { label: number }[] }).results[0].label, label);
      }),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.size >= 4, String(outcomes));
  });
});

describe('server request decoders: regressions found by fuzzing', () => {
  it('a JSON value beyond float32 range (1e300) is refused with SERVE_BAD_INPUTS, not run as Infinity; a deeply nested one is named without a RangeError', () => {
    const sample = SAMPLES[0].slice();
    sample[0] = 1e300;
    assert.throws(() => inputsFromJson({ inputs: [sample] }, SPEC, MAX_SAMPLES), {
      code: 'SERVE_BAD_INPUTS',
      message: /'inputs\[0\]\[0\]' is 1e\+300; expected a finite number within ±3\.4028e\+38 \(float32\)/,
    });
    const deep: unknown[] = SAMPLES[0].slice();
    deep[5] = JSON.parse(deeplyNested(20_000));
    assert.throws(() => inputsFromJson({ inputs: [deep] }, SPEC, MAX_SAMPLES), { code: 'SERVE_BAD_INPUTS', message: /'inputs\[0\]\[5\]' is an array of 1;/ });
    sample[0] = -3.4e38;
    assert.equal(inputsFromJson({ inputs: [sample] }, SPEC, MAX_SAMPLES).data[0], Math.fround(-3.4e38));
  });
});
