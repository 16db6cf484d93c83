import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BranchyArgumentError } from '../../src/common/errors.ts';
import { Rng } from '../../src/common/rng.ts';
import { getCriterion, listCriteria } from '../../src/exit/index.ts';

const close = (actual: number, expected: number, eps = 1e-6): void => assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected}, got ${actual}`);

function uniform(c: number): Float32Array {
  return new Float32Array(c).fill(1 / c);
}

function oneHot(c: number, k: number): Float32Array {
  const p = new Float32Array(c);
  p[k] = 1;
  return p;
}

function randomSoftmax(rng: Rng, c: number): Float32Array {
  const p = new Float32Array(c);
  let sum = 0;
  const scale = rng.next() * 10;
  for (let i = 0; i < c; i++) sum += p[i] = Math.exp(rng.normal() * scale);
  for (let i = 0; i < c; i++) p[i] /= sum;
  return p;
}

describe('entropy', () => {
  const entropy = getCriterion('entropy');
  it('is ln C for the uniform distribution', () => {
    for (const c of [2, 3, 10, 1000]) close(entropy.score(uniform(c), c), Math.log(c), 1e-5);
  });
  it('is 0 for a one-hot vector (0·ln 0 = 0)', () => {
    assert.equal(entropy.score(oneHot(10, 3), 10), 0);
  });
  it('matches −Σ p ln p on a known vector', () => {
    const p = new Float32Array([0.5, 0.25, 0.25]);
    close(entropy.score(p, 3), 1.5 * Math.LN2);
  });
  it('has range [0, ln C] and stays inside it', () => {
    assert.deepEqual(entropy.range(10), [0, Math.log(10)]);
    const rng = new Rng(1);
    for (let i = 0; i < 500; i++) {
      const c = 2 + rng.int(20);
      const s = entropy.score(randomSoftmax(rng, c), c);
      assert.ok(s >= 0 && s <= Math.log(c), `score ${s} outside [0, ln ${c}]`);
    }
    // float32 1/3 rounds up, so the raw sum exceeds ln 3 by a few ulps: the score is clamped into range.
    assert.ok(entropy.score(uniform(3), 3) <= Math.log(3));
  });
});

describe('normalized-entropy', () => {
  const ne = getCriterion('normalized-entropy');
  it('is 1 for uniform, 0 for one-hot, and 0 for a single class', () => {
    close(ne.score(uniform(7), 7), 1);
    assert.equal(ne.score(oneHot(7, 0), 7), 0);
    assert.equal(ne.score(new Float32Array([1]), 1), 0);
  });
  it('lies in [0, 1] for random softmax outputs', () => {
    assert.deepEqual(ne.range(5), [0, 1]);
    const rng = new Rng(2);
    for (let i = 0; i < 500; i++) {
      const c = 1 + rng.int(50);
      const s = ne.score(randomSoftmax(rng, c), c);
      assert.ok(s >= 0 && s <= 1, `score ${s} outside [0, 1]`);
    }
  });
  it('equals entropy / ln C', () => {
    const p = new Float32Array([0.5, 0.25, 0.25]);
    close(ne.score(p, 3), getCriterion('entropy').score(p, 3) / Math.log(3));
  });
});

describe('max-prob', () => {
  const mp = getCriterion('max-prob');
  it('is 1 − max p', () => {
    close(mp.score(new Float32Array([0.1, 0.7, 0.2]), 3), 0.3);
    assert.equal(mp.score(oneHot(4, 2), 4), 0);
    close(mp.score(uniform(4), 4), 0.75);
  });
  it('has range [0, 1 − 1/C]', () => {
    assert.deepEqual(mp.range(4), [0, 0.75]);
    assert.deepEqual(mp.range(1), [0, 0]);
  });
});

describe('margin', () => {
  const m = getCriterion('margin');
  it('is 1 − (top1 − top2) whatever the order of the top two', () => {
    close(m.score(new Float32Array([0.1, 0.6, 0.3]), 3), 0.7);
    close(m.score(new Float32Array([0.6, 0.3, 0.1]), 3), 0.7);
    close(m.score(new Float32Array([0.3, 0.1, 0.6]), 3), 0.7);
    close(m.score(new Float32Array([0.1, 0.3, 0.6]), 3), 0.7);
  });
  it('is 1 for a tie at the top, 0 for one-hot and for a single class', () => {
    close(m.score(new Float32Array([0.4, 0.4, 0.2]), 3), 1);
    assert.equal(m.score(oneHot(5, 4), 5), 0);
    assert.equal(m.score(new Float32Array([1]), 1), 0);
    assert.deepEqual(m.range(3), [0, 1]);
  });
});

describe('offsets', () => {
  // Two samples of three classes in one buffer, as the batched runner lays them out.
  const batch = new Float32Array([0.1, 0.6, 0.3, 1, 0, 0]);
  it('score the slice at the offset, for every criterion', () => {
    for (const c of listCriteria()) {
      close(c.score(batch, 3, 0), c.score(batch.slice(0, 3), 3), 0);
      close(c.score(batch, 3, 3), c.score(batch.slice(3, 6), 3), 0);
    }
    assert.equal(getCriterion('entropy').score(batch, 3, 3), 0);
  });
  it('reject slices that leave the array, with a code', () => {
    for (const c of listCriteria()) {
      for (const [classes, offset] of [
        [3, 4],
        [0, 0],
        [3, -1],
        [2.5, 0],
        [3, 0.5],
      ] as const) {
        assert.throws(
          () => c.score(batch, classes, offset),
          (e: unknown) => e instanceof BranchyArgumentError && e.code === 'EXIT_BAD_SLICE',
          `${c.name} classes=${classes} offset=${offset}`,
        );
      }
      assert.throws(
        () => c.range(0),
        (e: unknown) => e instanceof BranchyArgumentError && e.code === 'EXIT_BAD_CLASSES',
      );
    }
  });
});
