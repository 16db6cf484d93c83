import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { PLAN_FILE, readPlan, splitModel, writePlan } from '../../src/cascade/plan.ts';
import { readSharedPlan, SHARED_PLAN_FORMAT } from '../../src/cascade/shared-plan.ts';
import { loadModelDir } from '../../src/io/model-dir.ts';
import { SHIPPED_MODEL_DIR } from '../../src/io/shipped-models.ts';
import { tempDir } from '../helpers.ts';
import { deeplyNested, jsonText, mutatedJson, named, Outcomes, params, runs, typedOrValid } from './fuzz.ts';

/** A plan is refused as a plan, or for its spec. */
const PLAN_CODES = ['CASCADE_BAD_PLAN', 'SPEC_TYPE', 'SPEC_VALUE', 'SPEC_UNKNOWN_LAYER', 'SPEC_UNKNOWN_FIELD', 'SPEC_EXITS', 'SPEC_SHAPE'];

describe('fuzz: deployment plans (plan.json)', () => {
  let dir: string;
  let text: string;
  before(() => {
    dir = join(tempDir(), 'plan');
    writePlan(dir, splitModel(loadModelDir(SHIPPED_MODEL_DIR), { at: [1] }));
    text = readFileSync(join(dir, PLAN_FILE), 'utf8');
  });

  const read = (planText: string) => {
    writeFileSync(join(dir, PLAN_FILE), planText);
    try {
      return typedOrValid(
        () => readPlan(dir),
        (plan) => assert.doesNotThrow(() => JSON.stringify(plan)),
        PLAN_CODES,
      );
    } finally {
      writeFileSync(join(dir, PLAN_FILE), text);
    }
  };

  const CI = runs(400);
  it(named('plan.json with mutated fields gives CASCADE_BAD_PLAN, a SPEC_* error or a plan', CI), (t) => {
    const outcomes = new Outcomes();
    fc.assert(
      fc.property(mutatedJson(JSON.parse(text)), (value) => outcomes.add(read(jsonText(value)))),
      params(CI),
    );
    t.diagnostic(`outcomes: ${outcomes}`);
    assert.ok(outcomes.has('ok') && outcomes.has('CASCADE_BAD_PLAN'), String(outcomes));
  });

  it('a plan.json field nested 20,000 deep is refused with CASCADE_BAD_PLAN naming where (quoting it overflowed the stack)', () => {
    const plan = JSON.parse(text) as Record<string, unknown>;
    plan.format = 'DEEP';
    writeFileSync(join(dir, PLAN_FILE), JSON.stringify(plan).replace('"DEEP"', deeplyNested(20_000)));
    try {
      assert.throws(() => readPlan(dir), { code: 'CASCADE_BAD_PLAN', message: /\$\.format(\[0\])+ nests deeper than 64 levels/ });
    } finally {
      writeFileSync(join(dir, PLAN_FILE), text);
    }
  });

  it("a shared plan's successor nested 20,000 deep is refused with CASCADE_BAD_PLAN naming where (its message quoted it with JSON.stringify)", () => {
    const shared = join(tempDir(), 'shared-plan');
    mkdirSync(shared);
    writeFileSync(join(shared, PLAN_FILE), `{"format":${JSON.stringify(SHARED_PLAN_FORMAT)},"successor":${deeplyNested(20_000)}}`);
    assert.throws(() => readSharedPlan(shared), { code: 'CASCADE_BAD_PLAN', message: /\$\.successor(\[0\])+ nests deeper than 64 levels/ });
  });
});
