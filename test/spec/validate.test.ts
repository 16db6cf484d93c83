import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchySpecError } from '../../src/common/errors.ts';
import { networkFacts } from '../../src/spec/shapes.ts';
import { validateSpec } from '../../src/spec/validate.ts';
import { bLenet, lenet } from '../../src/zoo/index.ts';
import { tinySpec } from '../helpers.ts';

const rejects = (value: unknown, code: string, pattern: RegExp) =>
  assert.throws(
    () => validateSpec(value),
    (e: unknown) => e instanceof BranchySpecError && e.code === code && pattern.test(e.message),
  );

describe('spec validation', () => {
  it('accepts the zoo networks and the test network', () => {
    for (const spec of [bLenet(), lenet(), tinySpec()]) assert.equal(validateSpec(JSON.parse(JSON.stringify(spec))).name, spec.name);
  });

  it("B-LeNet's shapes match the reference code: 640 inputs to the branch fc, 720 to the trunk fc", () => {
    const facts = networkFacts(bLenet());
    assert.deepEqual(facts.stages[0].output, [30, 30, 5]);
    // The branch flattens 8x8x10 = 640 features; the trunk flattens 6x6x20 = 720.
    const branch = bLenet().exits[0].layers;
    assert.equal(branch.at(-2)?.type, 'flatten');
    assert.deepEqual(facts.exits[0].output, [10]);
    assert.equal(facts.exits[0].params, 3 * 3 * 5 * 10 + 10 + 640 * 10 + 10);
    assert.equal(facts.stages[1].params, 5 * 5 * 5 * 10 + 10 + 5 * 5 * 10 * 20 + 20 + 720 * 84 + 84);
    assert.deepEqual(facts.stages[1].output, [84]);
  });

  it('counts FLOPs to each exit, branches included', () => {
    const facts = networkFacts(bLenet());
    assert.equal(facts.flopsToExit[0], facts.stages[0].flops + facts.exits[0].flops);
    assert.equal(facts.flopsToExit[1], facts.stages[0].flops + facts.stages[1].flops + facts.exits[0].flops + facts.exits[1].flops);
  });

  it('names an unknown layer type, the value seen and the allowed types', () => {
    const spec = tinySpec();
    (spec.stages[0].layers[0] as { type: string }).type = 'conv3d';
    rejects(spec, 'SPEC_UNKNOWN_LAYER', /spec\.stages\[0\]\.layers\[0\]\.type: got "conv3d"; expected one of conv2d, maxPool/);
  });

  it('refuses a field a layer does not have', () => {
    const spec = tinySpec();
    (spec.stages[0].layers[1] as unknown as Record<string, unknown>).alpha = 0.1;
    rejects(spec, 'SPEC_UNKNOWN_FIELD', /layers\[1\]\.alpha.*no such field on 'relu'/);
  });

  it('refuses bad values with the field path', () => {
    rejects({ ...tinySpec(), input: { shape: [6, 0, 1] } }, 'SPEC_VALUE', /spec\.input\.shape\[1\]: got 0; expected a positive integer/);
    const spec = tinySpec();
    (spec.stages[0].layers[0] as { filters: number }).filters = 2.5;
    rejects(spec, 'SPEC_VALUE', /filters: got 2\.5/);
    rejects({ ...tinySpec(), format: 'other' }, 'SPEC_VALUE', /spec\.format/);
    rejects('nonsense', 'SPEC_TYPE', /spec: got "nonsense"; expected an object/);
  });

  it('requires one exit per stage and one threshold per early exit', () => {
    rejects({ ...tinySpec(), exits: tinySpec().exits.slice(0, 2) }, 'SPEC_EXITS', /one exit per stage \(3\)/);
    rejects({ ...tinySpec(), policy: { criterion: 'entropy', thresholds: [0.1] } }, 'SPEC_EXITS', /2 thresholds/);
  });

  it('takes branch points inside a stage, ascending, on a network with layer lists only', () => {
    assert.deepEqual(validateSpec(lenet()).branchPoints, [1]);
    rejects({ ...lenet(), branchPoints: [0] }, 'SPEC_VALUE', /spec\.branchPoints\[0\]: got 0; expected a layer position from 1 to 10/);
    rejects({ ...lenet(), branchPoints: [11] }, 'SPEC_VALUE', /branchPoints\[0\]: got 11/);
    rejects({ ...lenet(), branchPoints: [4, 2] }, 'SPEC_VALUE', /branchPoints\[1\]: got 2; expected a position after 4/);
    rejects({ ...lenet(), branchPoints: [] }, 'SPEC_TYPE', /spec\.branchPoints: got \[\]/);
    rejects({ ...bLenet(), branchPoints: [1] }, 'SPEC_VALUE', /after layer 1 a stage ends already/);
    const imported = { ...lenet(), imported: 'onnx', stages: [{ layers: [], output: [84] }], exits: [{ layers: [] }], branchPoints: [1] };
    rejects(imported, 'SPEC_UNKNOWN_FIELD', /no branch points on an imported network/);
  });

  it('refuses a value nested too deeply to print with a typed error, not a RangeError', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    rejects({ ...tinySpec(), name: deep }, 'SPEC_TYPE', /spec\.name: got \[…\]/);
  });

  it('requires every exit to end in one logit per class', () => {
    const spec = tinySpec();
    spec.exits[1].layers[2] = { type: 'dense', units: 4 };
    rejects(spec, 'SPEC_EXITS', /spec\.exits\[1\].*\[4\].*\[3\]/);
  });

  it('asks for a flatten before dense on feature maps', () => {
    const spec = tinySpec();
    spec.exits[0].layers = [{ type: 'dense', units: 3 }];
    rejects(spec, 'SPEC_SHAPE', /insert \{"type": "flatten"\}/);
  });
});
