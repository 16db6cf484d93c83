import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { networkFacts } from '../../src/spec/shapes.ts';
import type { NetworkSpec } from '../../src/spec/types.ts';
import { validateSpec } from '../../src/spec/validate.ts';
import { listZoo } from '../../src/zoo/index.ts';
import { tinySpec } from '../helpers.ts';
import { deeplyNested, jsonText, materialize, mutatedJson, named, Outcomes, params, runs, typedOrValid } from './fuzz.ts';

const SPEC_CODES = ['SPEC_TYPE', 'SPEC_VALUE', 'SPEC_UNKNOWN_LAYER', 'SPEC_UNKNOWN_FIELD', 'SPEC_EXITS', 'SPEC_SHAPE', 'SPEC_NO_LAYERS'];

/** Every zoo network, a small one, and an imported one (no layers, output shapes and a native head). */
const VALID: NetworkSpec[] = [
  ...listZoo().map((entry) => entry.build()),
  tinySpec(),
  {
    format: 'branchy/1',
    name: 'imported',
    input: { shape: [28, 28, 1] },
    classes: ['a', 'b'],
    stages: [
      { layers: [], output: [6, 12, 12] },
      { layers: [], output: [10] },
    ],
    exits: [{ layers: [{ type: 'flatten' }, { type: 'dense', units: 2 }] }, { layers: [] }],
    policy: { criterion: 'entropy', thresholds: [0.2] },
    imported: 'onnx',
  },
];

/**
 * A spec that passed is one a user can work with: its facts are finite whole numbers (shapes, parameters, FLOPs),
 * and it prints as JSON (model ids hash it, `branchy.json` stores it).
 */
function checkSpec(spec: NetworkSpec): void {
  assert.doesNotThrow(() => JSON.stringify(spec));
  if (spec.imported !== undefined) return;
  const facts = networkFacts(spec);
  for (const f of [...facts.stages, ...facts.exits]) {
    for (const d of f.output) assert.ok(Number.isSafeInteger(d) && d >= 1, `dim ${d}`);
    assert.ok(Number.isFinite(f.params) && Number.isFinite(f.flops), `params ${f.params}, flops ${f.flops}`);
  }
  assert.ok(Number.isFinite(facts.params));
}

const property = (value: unknown, outcomes: Outcomes) => outcomes.add(typedOrValid(() => validateSpec(value), checkSpec, SPEC_CODES));

/** Spec-shaped objects with fields drawn from anything JSON can hold, so that some get past the first checks. */
const specLike = fc.record(
  {
    format: fc.oneof(fc.constant('branchy/1'), fc.jsonValue({ maxDepth: 1 })),
    name: fc.oneof(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 })),
    input: fc.record({ shape: fc.oneof(fc.array(fc.oneof(fc.integer({ min: -1, max: 40 }), fc.constantFrom(2 ** 31, 2 ** 53, 1e300)), { maxLength: 4 })) }),
    classes: fc.oneof(fc.constant(['a', 'b']), fc.array(fc.string({ maxLength: 3 }), { maxLength: 4 }), fc.jsonValue({ maxDepth: 1 })),
    stages: fc.array(fc.record({ layers: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }) }), { maxLength: 3 }),
    exits: fc.array(fc.record({ layers: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }) }), { maxLength: 3 }),
    policy: fc.record({ criterion: fc.constantFrom('entropy', 'max-prob'), thresholds: fc.array(fc.double(), { maxLength: 3 }) }),
  },
  { requiredKeys: [] },
);

describe('fuzz: network spec validation', () => {
  const CI = runs(1500);
  it(named('arbitrary JSON values give a SPEC_* error', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), specLike), (value) => property(value, outcomes)),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.size >= 3, String(outcomes));
  });

  it(named('zoo specs with mutated fields give a SPEC_* error or a spec with finite facts', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID).chain((spec) => mutatedJson(spec)),
        (value) => property(materialize(value), outcomes),
      ),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('SPEC_VALUE') && outcomes.has('SPEC_UNKNOWN_FIELD'), String(outcomes));
  });

  it(named('mutated specs read back from JSON text give a SPEC_* error or a spec with finite facts', runs(300)), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID).chain((spec) => mutatedJson(spec)),
        (value) => property(JSON.parse(jsonText(value)), outcomes),
      ),
      params(runs(300)),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok'), String(outcomes));
  });
});

describe('network spec validation: regressions found by fuzzing', () => {
  it('a field it does not read, nested 20,000 deep, is refused with SPEC_VALUE naming where (JSON.stringify overflowed the stack)', () => {
    const spec = { ...tinySpec(), type: JSON.parse(deeplyNested(20_000)) as unknown };
    assert.throws(() => validateSpec(spec), { code: 'SPEC_VALUE', message: /^spec\.type(\[0\])+: nests deeper than 32 levels/ });
    assert.doesNotThrow(() => validateSpec({ ...tinySpec(), notes: [[['deep enough']]] }));
  });

  it('an input dim of 1e300 is refused with SPEC_VALUE (its stages had 1e300-value outputs and infinite FLOPs)', () => {
    assert.throws(() => validateSpec(tinySpec({ input: { shape: [1e300, 6, 1] } })), {
      code: 'SPEC_VALUE',
      message: /spec\.input\.shape\[0\]: got 1e\+300; expected a positive integer up to 2147483647/,
    });
  });

  it('dims that are each allowed but whose product passes 2^31 - 1 values per sample are refused with SPEC_SHAPE', () => {
    assert.throws(() => validateSpec(tinySpec({ input: { shape: [65536, 65536, 1] } })), {
      code: 'SPEC_SHAPE',
      message: /spec\.input\.shape.*4294967296 values per sample/,
    });
    const wide = tinySpec();
    wide.stages[2].layers[1] = { type: 'dense', units: 2 ** 31 - 1 };
    wide.exits[2].layers = [{ type: 'dense', units: 3 }];
    assert.doesNotThrow(() => validateSpec(wide), 'one dense layer of 2^31 - 1 units is still a shape');
    const wider = tinySpec();
    wider.stages[0].layers[0] = { type: 'conv2d', filters: 2 ** 28, kernel: 3, padding: 1 };
    assert.throws(() => validateSpec(wider), { code: 'SPEC_SHAPE', message: /stages\[0\]\.layers\[0\]: \[6, 6, 268435456\]/ });
  });
});
