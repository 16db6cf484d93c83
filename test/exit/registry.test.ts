import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchyArgumentError } from '../../src/common/errors.ts';
import { entropyCriterion, getCriterion, listCriteria, registerCriterion, type ExitCriterion } from '../../src/exit/index.ts';

describe('registry', () => {
  it('registers the four built-ins on import, entropy first', () => {
    const names = listCriteria().map((c) => c.name);
    assert.deepEqual(names.slice(0, 4), ['entropy', 'normalized-entropy', 'max-prob', 'margin']);
    for (const c of listCriteria()) assert.ok(c.description.length > 0);
    assert.equal(getCriterion('entropy'), entropyCriterion);
  });

  it('rejects unknown names with EXIT_UNKNOWN_CRITERION, listing the registered ones', () => {
    assert.throws(
      () => getCriterion('entropie'),
      (e: unknown) =>
        e instanceof BranchyArgumentError &&
        e.code === 'EXIT_UNKNOWN_CRITERION' &&
        e.message.includes('"entropie"') &&
        ['entropy', 'normalized-entropy', 'max-prob', 'margin'].every((n) => e.message.includes(n)),
    );
  });

  it('accepts user criteria, tolerates re-registration of the same object, refuses a name clash', () => {
    const custom: ExitCriterion = {
      name: 'test-constant',
      description: 'always 0.5',
      score: () => 0.5,
      range: () => [0, 1],
    };
    registerCriterion(custom);
    registerCriterion(custom);
    assert.equal(getCriterion('test-constant'), custom);
    assert.equal(listCriteria().filter((c) => c.name === 'test-constant').length, 1);
    assert.throws(
      () => registerCriterion({ ...custom }),
      (e: unknown) => e instanceof BranchyArgumentError && e.code === 'EXIT_DUPLICATE_CRITERION',
    );
    assert.throws(
      () => registerCriterion({ ...custom, name: '' }),
      (e: unknown) => e instanceof BranchyArgumentError && e.code === 'EXIT_BAD_CRITERION',
    );
  });

  it('returns a copy from listCriteria', () => {
    const list = listCriteria() as ExitCriterion[];
    list.length = 0;
    assert.ok(listCriteria().length >= 4);
  });
});
