import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrontSoFar } from '../../src/calibrate/front-so-far.ts';

describe('best points so far per accuracy level', () => {
  it('starts with no point: every cost +∞', () => {
    const front = new FrontSoFar(4, 2);
    assert.deepEqual(Array.from(front.bestCost), [Infinity, Infinity, Infinity, Infinity, Infinity]);
    assert.deepEqual(Array.from(front.atLeast), new Array(6).fill(Infinity));
  });

  it('atLeast[A] is the least cost recorded with at least A right', () => {
    const front = new FrontSoFar(4, 1);
    const none = Int32Array.of(0);
    front.record(3, 10, none, Int32Array.of(0, 4));
    front.record(1, 4, none, Int32Array.of(0, 4));
    front.record(2, 12, none, Int32Array.of(0, 4));
    assert.deepEqual(Array.from(front.atLeast), [4, 4, 10, 10, Infinity, Infinity]);
    assert.deepEqual(Array.from(front.bestCost), [Infinity, 4, 12, 10, Infinity]);
  });

  it('keeps with each accuracy level the cut vector and exit counts of its latest point', () => {
    const front = new FrontSoFar(3, 2);
    front.record(2, 5, Int32Array.of(7, 8), Int32Array.of(1, 1, 1));
    front.record(2, 4, Int32Array.of(3, 9), Int32Array.of(2, 0, 1));
    assert.deepEqual(Array.from(front.cuts.subarray(4, 6)), [3, 9]);
    assert.deepEqual(Array.from(front.exitCounts.subarray(6, 9)), [2, 0, 1]);
    assert.deepEqual(Array.from(front.cuts.subarray(0, 4)), [0, 0, 0, 0]);
  });
});
