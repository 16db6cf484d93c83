import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchyArgumentError } from '../../src/common/errors.ts';
import { broadcastThresholds, getCriterion, parseThresholds, validateThresholds } from '../../src/exit/index.ts';

const withCode =
  (code: string, includes: string[] = []) =>
  (e: unknown) =>
    e instanceof BranchyArgumentError && e.code === code && includes.every((s) => e.message.includes(s));

describe('validateThresholds', () => {
  const entropy = getCriterion('entropy');

  it('returns a Float64Array of the thresholds', () => {
    const t = validateThresholds([0.025, 0.1], 2, entropy, 10);
    assert.ok(t instanceof Float64Array);
    assert.deepEqual([...t], [0.025, 0.1]);
    assert.equal(validateThresholds([], 0, entropy, 10).length, 0);
  });

  it('accepts 0 (never exit) and the range bound (exit almost always)', () => {
    assert.deepEqual([...validateThresholds([0, Math.log(10)], 2, entropy, 10)], [0, Math.log(10)]);
  });

  it('rejects a wrong count with EXIT_THRESHOLD_COUNT', () => {
    assert.throws(
      () => validateThresholds([0.1, 0.2], 1, entropy, 10),
      withCode('EXIT_THRESHOLD_COUNT', ["'thresholds' has 2 values; this network has 1 early exit."]),
    );
    assert.throws(() => validateThresholds([0.1], 3, entropy, 10), withCode('EXIT_THRESHOLD_COUNT', ['has 1 value;', '3 early exits']));
  });

  it('rejects negative, non-finite and non-number values with EXIT_THRESHOLD_VALUE quoting index and value', () => {
    assert.throws(() => validateThresholds([0.1, -0.5], 2, entropy, 10), withCode('EXIT_THRESHOLD_VALUE', ['[1]', '-0.5']));
    assert.throws(() => validateThresholds([NaN], 1, entropy, 10), withCode('EXIT_THRESHOLD_VALUE', ['[0]', 'NaN']));
    assert.throws(() => validateThresholds([Infinity], 1, entropy, 10), withCode('EXIT_THRESHOLD_VALUE', ['Infinity']));
    assert.throws(() => validateThresholds(['0.1' as unknown as number], 1, entropy, 10), withCode('EXIT_THRESHOLD_VALUE', ['"0.1"']));
  });

  it('rejects values above the criterion range (every sample would exit there)', () => {
    assert.throws(() => validateThresholds([0.95], 1, getCriterion('max-prob'), 2), withCode('EXIT_THRESHOLD_VALUE', ['0.95', "'max-prob'", '[0, 0.5]']));
    assert.throws(() => validateThresholds([3], 1, entropy, 10), withCode('EXIT_THRESHOLD_VALUE', ['2.30259']));
  });
});

describe('parseThresholds', () => {
  it('parses one value or a comma-separated list', () => {
    assert.deepEqual(parseThresholds('0.025'), [0.025]);
    assert.deepEqual(parseThresholds('0.025,0.1'), [0.025, 0.1]);
    assert.deepEqual(parseThresholds(' 0.025 , .1,1e-3, 2 '), [0.025, 0.1, 0.001, 2]);
  });

  it('rejects bad text with EXIT_THRESHOLD_VALUE', () => {
    for (const bad of ['', '  ', 'abc', '0.1,', ',0.1', '0.1,,0.2', '0x10', '1.2.3', '0.1;0.2', 'NaN', 'Infinity']) {
      assert.throws(() => parseThresholds(bad), withCode('EXIT_THRESHOLD_VALUE'), JSON.stringify(bad));
    }
    assert.throws(() => parseThresholds('0.1,zz'), withCode('EXIT_THRESHOLD_VALUE', ['"zz"', 'Threshold 1']));
  });

  it('leaves value checks to validateThresholds', () => {
    assert.deepEqual(parseThresholds('-1'), [-1]);
  });
});

describe('broadcastThresholds', () => {
  it('expands a single value to every early exit', () => {
    assert.deepEqual(broadcastThresholds([0.05], 3), [0.05, 0.05, 0.05]);
  });
  it('returns other lists unchanged (as a copy) for validation to judge', () => {
    const t = [0.05, 0.1];
    const out = broadcastThresholds(t, 2);
    assert.deepEqual(out, t);
    assert.notEqual(out, t);
    assert.deepEqual(broadcastThresholds([0.05, 0.1], 3), [0.05, 0.1]);
    assert.deepEqual(broadcastThresholds([0.05], 0), [0.05]);
  });
});
