import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchyArgumentError } from '../../src/common/errors.ts';
import { firstPassingExit } from '../../src/exit/index.ts';

describe('firstPassingExit', () => {
  it('returns the first early exit whose score is below its threshold', () => {
    assert.equal(firstPassingExit([0.01, 0.01, 0.01], [0.1, 0.1]), 0);
    assert.equal(firstPassingExit([0.9, 0.02, 0.01], [0.1, 0.05]), 1);
  });

  it('needs strictly below: equal to the threshold does not exit', () => {
    assert.equal(firstPassingExit([0.1, 0.5], [0.1]), 1);
  });

  it('falls through to the final exit, which always answers whatever its score', () => {
    assert.equal(firstPassingExit([0.9, 0.3, 99], [0.1, 0.05]), 2);
    assert.equal(firstPassingExit([0.9, 0.3, 0], [0.1, 0.05]), 2);
    assert.equal(firstPassingExit([5], []), 0);
  });

  it('never exits with threshold 0 and never passes a NaN score', () => {
    assert.equal(firstPassingExit([0, 0, 0], [0, 0]), 2);
    assert.equal(firstPassingExit([NaN, 0.01, 1], [1, 0.05]), 1);
  });

  it('accepts typed arrays', () => {
    assert.equal(firstPassingExit(new Float32Array([0.5, 0.01, 1]), new Float64Array([0.1, 0.05])), 1);
  });

  it('rejects mismatched counts', () => {
    for (const [s, t] of [
      [[], []],
      [[1, 2], []],
      [[1], [0.1]],
    ] as const) {
      assert.throws(
        () => firstPassingExit(s, t),
        (e: unknown) => e instanceof BranchyArgumentError && e.code === 'EXIT_THRESHOLD_COUNT',
      );
    }
  });
});
